"""`gapfill scan` / `gapfill defects` end to end through the CLI, on generated recordings trees.

Each tree is a Frigate layout (<root>/<YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4) of small clips from
test_detect_clips.write_clip, one known fault per segment, ingested with `gapfill ingest`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from test_detect_clips import GOP, Faults, cut_inside_frame, write_clip
from typer.testing import CliRunner

from gapfill.cli import app
from gapfill.errors import UserError

START = dt.datetime(2026, 1, 5, 6, 59, 36, tzinfo=dt.UTC)  # the segments cross 07:00
SEGMENT_FRAMES = 60  # 6 s at 10 fps


def run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.output


def segment_path(root: Path, camera: str, start: dt.datetime) -> Path:
    return root / f"{start:%Y-%m-%d}" / f"{start:%H}" / camera / f"{start:%M.%S}.mp4"


def build_tree(root: Path, camera: str, plans: list[Faults | str | None]) -> list[Path]:
    """One segment per plan: Faults to inject, "missing" (not written), "truncated" (cut inside
    frame 40), "garbage" or "empty". Returns the segment paths (missing ones too)."""
    paths = []
    for j, plan in enumerate(plans):
        start = START + dt.timedelta(seconds=6 * j)
        path = segment_path(root, camera, start)
        paths.append(path)
        if plan == "missing":
            continue
        if plan == "truncated":
            whole = write_clip(root / f".whole{j}.mp4", SEGMENT_FRAMES, seed=j, faststart=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            cut_inside_frame(whole, 40, path)
            whole.unlink()
        elif plan == "garbage":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(range(256)) * 40)
        elif plan == "empty":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            assert plan is None or isinstance(plan, Faults)
            write_clip(path, SEGMENT_FRAMES, plan, seed=j)
    return paths


def defects_by_path(rows: list[dict[str, Any]]) -> dict[str | None, list[dict[str, Any]]]:
    found: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["path"], []).append(row)
    return found


def assert_span(row: dict[str, Any], kind: str, frame_start: int, frame_end: int) -> None:
    """Kind exact, frame edges within one frame (the issue's tolerance)."""
    assert row["kind"] == kind, row
    assert abs(row["frame_start"] - frame_start) <= 1, row
    assert abs(row["frame_end"] - frame_end) <= 1, row


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    root.mkdir()
    run("init")
    return root


def test_every_kind_end_to_end(tree: Path) -> None:
    plans: list[Faults | str | None] = [
        None,
        Faults(frozen=[(20, 45)]),
        Faults(black=[(20, 32)]),
        Faults(green=[(25, 33)]),
        Faults(blocky=[(20, 30)]),
        "missing",  # 07:00:06, in the 07 hour's directory
        Faults(dropped=[(20, 27)]),
        Faults(stuck_clock=[(22, 25)]),
        Faults(corrupt=[23]),
        "truncated",
        None,
        "garbage",
        None,
        "empty",
    ]
    paths = build_tree(tree, "press", plans)
    run("ingest", str(tree))
    report = run("scan", "--json")
    assert report["scanned"] == len(plans) - 1
    assert report["unreadable"] == 2

    rows = run("defects", "--json")
    found = defects_by_path(rows)
    p = [str(path) for path in paths]
    assert p[0] not in found and p[10] not in found and p[12] not in found  # clean segments
    for index, kind, first, end in [
        (1, "frozen", 20, 45),
        (2, "black", 20, 32),
        (3, "green", 25, 33),
        (4, "blocky", 20, 30),
        (6, "missing", 20, 27),
        (7, "timestamp", 22, 25),
        (8, "decode_error", 23, (23 // GOP + 1) * GOP),  # damage runs to the next keyframe
    ]:
        assert len(found[p[index]]) == 1, found[p[index]]
        assert_span(found[p[index]][0], kind, first, end)

    # Between recordings: the missing segment (no file), the truncated file's tail (frames 40..59
    # up to the next segment), the garbage and empty files (unreadable, covering nothing).
    def starts(row: dict[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(row["start_time"])

    gaps = sorted((r for r in rows if r["detector"] == "timeline.recording_gap"), key=starts)
    segment = dt.timedelta(seconds=6)
    expected = [
        (START + 5 * segment, START + 6 * segment, None),
        (START + 9 * segment + dt.timedelta(seconds=4.0), START + 10 * segment, None),
        (START + 11 * segment, START + 12 * segment, p[11]),
        (START + 13 * segment, None, None),  # the last file: nothing after it to measure
    ]
    assert len(gaps) == 3, gaps
    for gap, (start, end, path) in zip(gaps, expected, strict=False):
        assert gap["kind"] == "missing"
        assert abs(starts(gap) - start) <= dt.timedelta(seconds=0.1), gap
        assert abs(dt.datetime.fromisoformat(gap["end_time"]) - end) <= dt.timedelta(seconds=0.1)
        assert gap["path"] == path

    recordings = {r["path"]: r for r in run("recordings", "--json")}
    assert recordings[p[0]]["status"] == "ok"
    assert recordings[p[1]]["status"] == "damaged"
    assert recordings[p[11]]["status"] == "unreadable" and recordings[p[11]]["status_reason"]
    assert "zero-byte" in recordings[p[13]]["status_reason"]

    # Only the kinds asked for, and a re-scan writes nothing new.
    frozen = run("defects", "--kind", "frozen", "--json")
    assert [r["path"] for r in frozen] == [p[1]]
    again = run("scan", "--rescan", "--json")
    assert again["scanned"] == len(plans) - 1
    assert len(run("defects", "--json")) == len(rows)


def test_clean_static_and_moving_scenes_have_no_defects(tree: Path) -> None:
    build_tree(tree, "static", [Faults(), Faults(), Faults()])
    for j in range(3):
        start = START + dt.timedelta(seconds=6 * j)
        write_clip(segment_path(tree, "moving", start), SEGMENT_FRAMES, motion=True, seed=10 + j)
        write_clip(segment_path(tree, "still", start), SEGMENT_FRAMES, motion=False, seed=20 + j)
    run("ingest", str(tree))
    report = run("scan", "--json")
    assert report["scanned"] == 9 and report["ok"] == 9
    assert run("defects", "--json") == []


def test_camera_slower_than_its_setting_is_not_a_gap(tree: Path) -> None:
    """A camera set to 10 fps that really delivers 9.6: 48 frames per 5 s segment."""
    for j in range(4):
        start = START + dt.timedelta(seconds=5 * j)
        write_clip(segment_path(tree, "slow", start), 48, fps=10, cadence=9.6, seed=j)
    run("ingest", str(tree))
    run("scan", "--json")
    assert run("defects", "--json") == []
    from gapfill.catalog.db import Catalog
    from gapfill.catalog.models import Camera
    from gapfill.config import load_settings

    catalog = Catalog(load_settings().effective_database_url)
    with catalog.session() as session:
        camera = session.query(Camera).filter_by(name="slow").one()
        assert camera.cadence_fps == pytest.approx(9.6, abs=0.01)
    catalog.dispose()


def test_scan_only_what_is_new_and_filters(tree: Path) -> None:
    build_tree(tree, "a", [None, Faults(black=[(20, 30)])])
    build_tree(tree, "b", [None])
    run("ingest", str(tree))
    first = run("scan", "--camera", "a", "--json")
    assert first["scanned"] == 2
    assert run("scan", "--camera", "a", "--json")["scanned"] == 0  # nothing new
    assert run("scan", "--since", "2026-01-05T06:59:40Z", "--json")["scanned"] == 0
    assert run("scan", "--json")["scanned"] == 1  # camera b
    assert len(run("defects", "--camera", "a", "--json")) == 1
    assert run("defects", "--camera", "b", "--json") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("scan", "--camera", "nope"), "no camera named 'nope'"),
        (("scan", "--since", "yesterday-ish"), "--since"),
        (("defects", "--kind", "purple"), "--kind"),
        (("defects", "--state", "done"), "--state"),
        (("defects", "--camera", "nope"), "no camera named 'nope'"),
    ],
)
def test_bad_options_are_user_errors(tree: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, UserError), result.output
    assert message in str(result.exception)


def _break_on_marked_files(path: str, settings: Any) -> Any:
    """Stand-in for the decoder that kills its process on one file (as a crash inside FFmpeg
    would), hangs on another (as a deadlock inside FFmpeg would) and raises on a third (as a bug
    would); real decoding for the rest."""
    import os
    import time

    from gapfill.detect.recording import analyse_file

    if path.endswith("00.00.mp4"):
        os._exit(1)
    if path.endswith("59.54.mp4"):
        time.sleep(3600)
    if path.endswith("00.06.mp4"):
        raise RuntimeError("boom")
    return analyse_file(path, settings)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_survives_a_crashing_or_hanging_decoder(
    catalog: Any, tmp_path: Path, workers: int
) -> None:
    """Runs on both catalog backends, with one decoding process and with two. The stand-in runs
    in the worker processes (it is pickled by name: they import this module)."""
    from gapfill.catalog.models import Recording
    from gapfill.config import DetectionSettings, Settings
    from gapfill.detect import scan as scan_module
    from gapfill.ingest import ingest

    root = tmp_path / "recordings"
    paths = build_tree(root, "cam", [None] * 6)  # 06:59:36 .. 07:00:06
    ingest(catalog, root, "frigate")
    settings = Settings(
        database_url=catalog.url, detect=DetectionSettings(decode_timeout_seconds=3)
    )
    report = scan_module.scan(
        catalog, settings, workers=workers, progress=False, analyse=_break_on_marked_files
    )
    assert report.scanned == 6
    with catalog.session() as session:
        status = {r.path: (r.status, r.status_reason) for r in session.query(Recording)}
    for hung_or_dead in (paths[3], paths[4]):  # 06:59:54, 07:00:00
        assert status[str(hung_or_dead)] == (
            "unreadable",
            "decoder process died on this file (crashed, or ran past 3 s)",
        )
    assert status[str(paths[5])][0] == "unreadable"  # 07:00:06
    assert "internal error while decoding: RuntimeError: boom" in status[str(paths[5])][1]
    assert status[str(paths[0])] == ("ok", None)
    # Re-scan with the real decoder: everything readable, nothing duplicated.
    again = scan_module.scan(catalog, settings, rescan=True, workers=workers, progress=False)
    assert again.ok == 6


# Held by a thread of the scanning process while it scans (as its scheduler, metrics server or
# progress bar hold their locks now and then).
_BUSY = threading.Lock()


def _needs_the_lock(path: str, settings: Any) -> Any:
    """Stand-in for the decoder that takes _BUSY first: a worker forked from the scanning process
    would find it held for ever (the holding thread is not copied), and give up after 10 s."""
    from gapfill.detect.recording import analyse_file

    if not _BUSY.acquire(timeout=10):
        raise RuntimeError("a lock held in the scanning process is held here for ever")
    _BUSY.release()
    return analyse_file(path, settings)


def test_decoder_processes_do_not_inherit_the_scanning_process_s_locks(
    catalog: Any, tmp_path: Path
) -> None:
    """The nightly scan runs in a process with threads; a worker copied from it mid-lock (a fork)
    waits for ever, and so does the scan. Workers start from a clean process instead."""
    from gapfill.catalog.models import Recording
    from gapfill.config import Settings
    from gapfill.detect import scan as scan_module
    from gapfill.ingest import ingest

    root = tmp_path / "recordings"
    build_tree(root, "cam", [None] * 3)
    ingest(catalog, root, "frigate")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _BUSY:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        report = scan_module.scan(
            catalog,
            Settings(database_url=catalog.url),
            workers=2,
            progress=False,
            analyse=_needs_the_lock,
        )
    finally:
        release.set()
        holder.join()
    with catalog.session() as session:
        reasons = [r.status_reason for r in session.query(Recording)]
    assert report.ok == 3, reasons
