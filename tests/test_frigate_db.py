"""Frigate's own catalog as the source (issue 29, item 1): `gapfill ingest ROOT --frigate-db FILE`
on a database with Frigate's schema (tests/frigate_site.py cites the Frigate files it is taken
from), 3 cameras x 1 hour of segments written by `gapfill synth` in Frigate's layout, with 5
segments deleted (row and file) and 2 files missing (row kept), and one file Frigate has no row
for. One command catalogues it all with Frigate's ids and finds every gap with its exact span;
Frigate's database and folder are byte for byte unchanged, even with a Frigate holding a write
transaction open meanwhile; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_run import refused, run_cli
from frigate_site import create_frigate_db, insert_rows, list_segments, tree_digest
from sqlalchemy import func, select

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Defect, ProvenanceEvent, Recording

CAMERAS, MINUTES, SEGMENT_S = 3, 60, 60.0
# Per camera, the index of each segment removed (in time order; never first or last, never
# adjacent, so each is a gap of its own).
DELETED = {0: [5, 30], 1: [10, 45], 2: [20]}  # Frigate's row and the file: 5 segments
FILE_GONE = {0: [50], 2: [40]}  # the row stays, the file is gone: 2 files
NO_ROW = {1: [25]}  # the file stays, Frigate has no row for it


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Segments in Frigate's layout: 3 cameras x 60 one-minute segments, tiny frames."""
    from gapfill.cli import main

    out = tmp_path_factory.mktemp("synth") / "recordings"
    args = ["synth", "--out", str(out), "--cameras", str(CAMERAS), "--minutes", str(MINUTES)]
    args += ["--fps", "2", "--width", "32", "--height", "32", "--segment-seconds", str(SEGMENT_S)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--faults", "none", "--workers", "1", "--json"])
    assert exit_info.value.code == 0
    (out / "ground_truth.json").unlink()  # not Frigate's
    return out


def _pick(by_camera: dict[str, list], plan: dict[int, list[int]]) -> list:
    cameras = sorted(by_camera)
    return [by_camera[cameras[c]][i] for c, indexes in plan.items() for i in indexes]


@pytest.fixture
def frigate(synthesized: Path, tmp_path: Path) -> dict[str, object]:
    """A Frigate folder (frigate.db + recordings/) with the holes described above."""
    folder = tmp_path / "frigate"
    root = folder / "recordings"
    shutil.copytree(synthesized, root)
    segments = list_segments(root, SEGMENT_S)
    by_camera: dict[str, list] = {}
    for segment in segments:
        by_camera.setdefault(segment.camera, []).append(segment)
    assert len(by_camera) == CAMERAS and all(len(s) == MINUTES for s in by_camera.values())
    deleted, gone, no_row = (
        _pick(by_camera, DELETED),
        _pick(by_camera, FILE_GONE),
        _pick(by_camera, NO_ROW),
    )
    database = folder / "frigate.db"
    create_frigate_db(database)
    insert_rows(database, [s for s in segments if s not in deleted and s not in no_row])
    for segment in deleted + gone:
        (root / segment.relative).unlink()
    return {
        "folder": folder,
        "root": root,
        "database": database,
        "segments": segments,
        "holes": deleted + gone,
        "gone": gone,
        "no_row": no_row,
    }


def _ingest(capsys: pytest.CaptureFixture[str], root: Path, database: Path) -> tuple[dict, list]:
    code, out, err = run_cli(capsys, "ingest", str(root), "--frigate-db", str(database), "--json")
    assert code == 0, err
    return json.loads(out), err


def _catalog_state(catalog: Catalog) -> tuple[object, ...]:
    with catalog.session() as session:
        recordings = session.execute(
            select(Recording.id, Recording.path, Recording.sha256, Recording.frigate_id)
        ).all()
        defects = session.execute(
            select(Defect.id, Defect.start_time, Defect.end_time, Defect.state)
        ).all()
        events = session.scalar(select(func.count()).select_from(ProvenanceEvent))
    return sorted(recordings), sorted(defects), events


def test_frigate_database_ingests_with_every_gap(
    catalog: Catalog,
    frigate: dict,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    folder, root, database = frigate["folder"], frigate["root"], frigate["database"]
    before = tree_digest(folder)
    assert not Path(f"{database}-wal").exists()  # no Frigate running: opened immutable

    summary, warnings = _ingest(capsys, root, database)
    total = CAMERAS * MINUTES
    assert summary["frigate_rows"] == total - 5 - 1
    assert summary["added"] == total - 5 - 2 and summary["added_without_row"] == 1
    assert summary["files_missing"] == 2 and summary["linked"] == total - 5 - 2 - 1
    assert (summary["gaps"], summary["gaps_added"]) == (7, 7)
    gone_lines = [w for w in warnings if "gone: Frigate lists it" in w]
    assert len(gone_lines) == 2
    assert any(frigate["no_row"][0].relative in w and "no row" in w for w in warnings)
    assert tree_digest(folder) == before  # nothing written into Frigate's database or folder

    # Every gap with its exact span: the removed segment's time, to the microsecond.
    expected = sorted(
        (
            s.camera,
            dt.datetime.fromtimestamp(s.start, dt.UTC),
            dt.datetime.fromtimestamp(s.end, dt.UTC),
        )
        for s in frigate["holes"]
    )
    with catalog.session() as session:
        rows = session.execute(
            select(Defect, Camera.name)
            .join(Camera, Defect.camera_id == Camera.id)
            .where(Defect.kind == "missing")
        ).all()
        found = sorted((name, d.start_time, d.end_time) for d, name in rows)
        without_file = sorted(
            rid for d, _ in rows for rid in d.figures.get("frigate_rows_without_file", [])
        )
        linked = dict(
            session.execute(
                select(Recording.path, Recording.frigate_id).where(
                    Recording.frigate_id.is_not(None)
                )
            ).all()
        )
    assert found == expected
    assert without_file == sorted(s.id for s in frigate["gone"])
    listed = {
        str(root / s.relative): s.id
        for s in frigate["segments"]
        if s not in frigate["holes"] and s not in frigate["no_row"]
    }
    assert linked == listed  # every listed file carries Frigate's id

    # Again, with a Frigate holding a write transaction open in WAL mode: the read neither waits
    # for its lock nor holds one (Frigate commits afterwards), and nothing changes.
    state = _catalog_state(catalog)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=wal")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute('UPDATE "recordings" SET "motion" = "motion" WHERE 0')
    during = tree_digest(folder)
    summary, _ = _ingest(capsys, root, database)
    assert tree_digest(folder) == during
    writer.execute("COMMIT")
    writer.close()
    assert (summary["added"], summary["gaps_added"], summary["gaps_removed"]) == (0, 0, 0)
    assert summary["gaps_kept"] == 7 and summary["unchanged"] == total - 5 - 2
    assert _catalog_state(catalog) == state


def test_bad_frigate_databases_are_one_line_errors(
    catalog: Catalog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    root = tmp_path / "recordings"
    root.mkdir()
    line = refused(capsys, "ingest", str(root), "--frigate-db", str(tmp_path / "nope.db"))
    assert "nope.db: Frigate database not found" in line
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert "no `recordings` table" in refused(
        capsys, "ingest", str(root), "--frigate-db", str(other)
    )
    text = tmp_path / "text.db"
    text.write_text("not a database\n" * 100)
    line = refused(capsys, "ingest", str(root), "--frigate-db", str(text))
    assert line.startswith(f"error: {text}: cannot read Frigate's database")
    line = refused(capsys, "ingest", str(root), "--layout", "frigate-db")
    assert "--frigate-db FILE" in line
    line = refused(capsys, "ingest", str(root), "--frigate-db", str(other), "--layout", "flat")
    assert "--frigate-db: not with --layout flat" in line


def test_the_daemon_s_watch_reads_frigate_and_scan_keeps_its_gaps(
    catalog: Catalog, frigate: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With recordings_layout = "frigate-db", a watch tick ingests from Frigate's database; the
    scan that follows finds the same holes between recordings and keeps Frigate's gap defects
    (no second copy); the tick queues them. A database gone later is a logged problem, not a
    crash."""
    from gapfill.config import load_settings
    from gapfill.jobs.settle import StabilityTracker
    from gapfill.jobs.watch import WatchState, watch_once

    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_RECORDINGS_LAYOUT", "frigate-db")
    monkeypatch.setenv("GAPFILL_FRIGATE_DB", str(frigate["database"]))
    monkeypatch.setenv("GAPFILL_RECORDINGS_DIRS", json.dumps([str(frigate["root"])]))
    settings = load_settings()
    before = tree_digest(frigate["folder"])
    report = watch_once(catalog, settings, WatchState(StabilityTracker(0.0, 0.0)))
    assert report.ingested == CAMERAS * MINUTES - 5 - 2 and report.problems == 0
    assert report.scanned == report.ingested and report.queued == 7
    with catalog.session() as session:
        gaps = session.execute(
            select(Defect.start_time, Defect.state).where(Defect.kind == "missing")
        ).all()
    assert len(gaps) == 7 and {state for _, state in gaps} == {"queued"}
    assert tree_digest(frigate["folder"]) == before

    frigate["database"].rename(frigate["folder"] / "moved.db")
    report = watch_once(catalog, settings, WatchState(StabilityTracker(0.0, 0.0)))
    assert report.problems == 1 and report.ingested == 0
