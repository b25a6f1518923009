"""Repair what mattered first (issue 29, item 2): the activity around a defect, from Frigate's
motion and object counts on the recordings flanking it, orders the repair queue (busiest first,
then oldest) and, with repair_min_activity, leaves the stillest defects `ignored` with the reason.
End to end through the CLI on a Frigate source (tests/frigate_site.py), on SQLite and PostgreSQL;
the review queue shows it through the API and its page."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from api_site import Site, client
from cli_run import refused, run_cli, succeeds
from frigate_site import create_frigate_db, insert_rows, list_segments
from sqlalchemy import select, text

from gapfill import console
from gapfill.catalog.db import Catalog, alembic_config
from gapfill.catalog.models import Camera, Defect
from gapfill.jobs import queue
from gapfill.jobs.activity import FlankCounts, activity, claim_rank

SEGMENT_S = 60.0
MINUTES = 9
# Frigate's (motion, objects) on every segment row of each camera, by camera index; None: the
# segment's file has no row (catalogued from its name, without counts).
BUSY, STILL, SOME = (300, 30), (0, 0), (30, 0)
DELETED = {0: [2, 5], 1: [3], 2: [4, 6]}  # row and file: each a `missing` gap
NO_ROW = {2: [5, 7]}  # camera 2 gap 6 has no counts on either side: unknown


def test_the_formula() -> None:
    minute = 60.0
    # (300 + 10 * 30) boxes over a minute: 10 a second -> 10 / 11.
    assert activity([FlankCounts(300, 30, minute)]) == 0.91
    assert activity([FlankCounts(0, 0, minute), FlankCounts(0, 0, minute)]) == 0.0
    # Counts add up over both sides before dividing: 60 boxes over two minutes is 0.5 a second.
    assert activity([FlankCounts(60, 0, minute), FlankCounts(0, 0, minute)]) == 0.33
    # A side without Frigate's counts takes no part; none at all is unknown.
    assert activity([FlankCounts(60, 0, minute), FlankCounts(None, None, minute)]) == 0.5
    assert activity([FlankCounts(None, None, minute)]) is None and activity([]) is None
    # An unreadable segment (no duration) still divides by something.
    assert activity([FlankCounts(1, 0, 0.0)]) == 0.5
    assert (claim_rank(0.91), claim_rank(None), claim_rank(0.0)) == (0.09, 0.5, 1.0)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 cameras x 9 one-minute segments in Frigate's layout, tiny frames."""
    out = tmp_path_factory.mktemp("synth") / "recordings"
    args = ["synth", "--out", str(out), "--cameras", "3", "--minutes", str(MINUTES)]
    args += ["--fps", "2", "--width", "32", "--height", "32"]
    args += ["--segment-seconds", str(SEGMENT_S), "--faults", "none", "--workers", "1"]
    from gapfill.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--json"])
    assert exit_info.value.code == 0
    (out / "ground_truth.json").unlink()
    return out


@pytest.fixture
def frigate(synthesized: Path, tmp_path: Path) -> dict[str, object]:
    """Frigate's folder and database: busy camera 0, still camera 1, camera 2 a little active
    with segments Frigate has no row for."""
    root = tmp_path / "frigate" / "recordings"
    shutil.copytree(synthesized, root)
    segments = list_segments(root, SEGMENT_S)
    cameras = sorted({s.camera for s in segments})
    by_camera = {c: [s for s in segments if s.camera == c] for c in cameras}
    deleted = [by_camera[cameras[c]][i] for c, indexes in DELETED.items() for i in indexes]
    no_row = [by_camera[cameras[c]][i] for c, indexes in NO_ROW.items() for i in indexes]
    database = tmp_path / "frigate" / "frigate.db"
    create_frigate_db(database)
    insert_rows(database, [s for s in segments if s not in deleted and s not in no_row])
    connection = sqlite3.connect(database)
    for camera, (motion, objects) in zip(cameras, (BUSY, STILL, SOME), strict=True):
        connection.execute(
            'UPDATE "recordings" SET "motion" = ?, "objects" = ? WHERE "camera" = ?',
            (motion, objects, camera),
        )
    connection.commit()
    connection.close()
    for segment in deleted:
        (root / segment.relative).unlink()
    return {"root": root, "database": database, "cameras": cameras}


def _gaps(catalog: Catalog) -> dict[tuple[str, int], int]:
    """(camera, index of the deleted segment) -> defect id of its gap."""
    with catalog.session() as session:
        rows = session.execute(
            select(Defect.id, Camera.name)
            .join(Camera, Defect.camera_id == Camera.id)
            .where(Defect.kind == "missing")
            .order_by(Camera.name, Defect.start_time)
        ).all()
    names = sorted({name for _, name in rows})
    found: dict[tuple[str, int], int] = {}
    for camera_index, indexes in DELETED.items():
        ids = [i for i, name in rows if name == names[camera_index]]
        assert len(ids) == len(indexes)
        found.update({(names[camera_index], n): i for n, i in zip(indexes, ids, strict=True)})
    return found


def test_the_queue_repairs_the_busiest_first_and_skips_the_still(
    catalog: Catalog,
    frigate: dict,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    root, database, cameras = frigate["root"], frigate["database"], frigate["cameras"]
    succeeds(capsys, "ingest", str(root), "--frigate-db", str(database), "--json")
    gaps = _gaps(catalog)
    busy_early, busy_late = gaps[(cameras[0], 2)], gaps[(cameras[0], 5)]
    still = gaps[(cameras[1], 3)]
    some, unknown = gaps[(cameras[2], 4)], gaps[(cameras[2], 6)]

    monkeypatch.setenv("GAPFILL_REPAIR_MIN_ACTIVITY", "0.1")
    monkeypatch.setenv("GAPFILL_LOG_LEVEL", "INFO")  # the log line that records each one
    code, out, err = run_cli(capsys, "jobs", "queue", "--json")
    monkeypatch.delenv("GAPFILL_LOG_LEVEL")
    assert code == 0, err
    done = json.loads(out)
    logged = [json.loads(line) for line in err if line.startswith("{")]
    assert [
        (e["message"], e["defect_id"], e["reason"]) for e in logged if e["message"] == "ignored"
    ] == [("ignored", still, "activity 0.00 below repair_min_activity 0.1")]
    assert (done["queued"], done["ignored"], done["ignored_defect_ids"]) == (4, 1, [still])
    assert done["repair_min_activity"] == 0.1

    # The still gap is recorded as ignored with the reason, never silently.
    ignored = json.loads(succeeds(capsys, "defects", "--state", "ignored", "--json"))
    assert [(d["id"], d["activity"]) for d in ignored] == [(still, 0.0)]
    assert ignored[0]["state_reason"] == "activity 0.00 below repair_min_activity 0.1"
    monkeypatch.setattr(console.out, "width", 250)  # a terminal wide enough for every column
    table = succeeds(capsys, "defects", "--state", "ignored")
    assert "activity" in table and "activity 0.00 below repair_min_activity 0.1" in table

    # gapfill jobs shows each job's activity (JSON: null when unknown; the table says so).
    jobs = {j["defect_id"]: j for j in json.loads(succeeds(capsys, "jobs", "--json"))}
    assert {d: j["activity"] for d, j in jobs.items()} == {
        busy_early: 0.91,
        busy_late: 0.91,
        some: 0.33,  # one side only: segment 5 has no row
        unknown: None,  # neither side has Frigate's counts
    }
    assert "unknown" in succeeds(capsys, "jobs") and "0.91" in succeeds(capsys, "jobs")

    # Claimed busiest first, equal activity oldest first, unknown as medium (0.5), then the rest.
    order = []
    while True:
        with catalog.session() as session:
            claim = queue.claim_next(session, "w:1")
        if claim is None:
            break
        order.append(claim.defect_id)
    assert order == [busy_early, busy_late, unknown, some]

    # A second pass changes nothing: the ignored defect stays ignored, nothing is queued twice.
    again = json.loads(succeeds(capsys, "jobs", "queue", "--json"))
    assert (again["queued"], again["ignored"]) == (0, 0)

    # A person overrides the verdict for one defect; the rest of the queue is untouched.
    requeued = json.loads(succeeds(capsys, "jobs", "queue", "--defect", str(still), "--json"))
    assert requeued["defect_id"] == still and requeued["state"] == "queued"
    with catalog.session() as session:
        defect = session.get(Defect, still)
        assert (defect.state, defect.state_reason, defect.activity) == ("queued", None, 0.0)
    assert "already has live job" in refused(capsys, "jobs", "queue", "--defect", str(still))
    assert "no defect 999" in refused(capsys, "jobs", "queue", "--defect", "999")


def test_repair_min_activity_is_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_REPAIR_MIN_ACTIVITY", "1.5")
    line = refused(capsys, "jobs", "queue")
    assert "repair_min_activity" in line
    monkeypatch.setenv("GAPFILL_REPAIR_MIN_ACTIVITY", "lots")
    assert "repair_min_activity" in refused(capsys, "jobs", "queue")


def test_migration_0005_ranks_old_jobs_as_unknown(catalog_url: str) -> None:
    """Jobs queued before 0005 get the rank of an unknown activity; down and up again works."""
    config = alembic_config(catalog_url)
    command.upgrade(config, "0004")
    with Catalog(catalog_url) as catalog, catalog.session() as session:
        session.execute(
            text(
                "INSERT INTO cameras (name, detector_overrides, created_at) VALUES "
                "('c', '{}', CURRENT_TIMESTAMP)"
            )
        )
        session.execute(
            text(
                "INSERT INTO defects (camera_id, kind, start_time, end_time, detector, figures, "
                "state, created_at, updated_at) VALUES (1, 'black', '2026-01-05 07:00:00', "
                "'2026-01-05 07:00:02', 't', '{}', 'queued', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        session.execute(
            text(
                "INSERT INTO repair_jobs (defect_id, state, attempts, max_attempts, not_before, "
                "created_at) VALUES (1, 'queued', 0, 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    command.upgrade(config, "head")  # 0005 and every later revision over these rows
    with Catalog(catalog_url) as catalog, catalog.session() as session:
        assert session.execute(text("SELECT claim_rank FROM repair_jobs")).scalar_one() == 0.5
        assert session.execute(text("SELECT activity FROM defects")).scalar_one() is None
        claim = queue.claim_next(session, "w:1")
        assert claim is not None and claim.job_id == 1
    command.downgrade(config, "0004")
    command.upgrade(config, "head")


def test_the_review_queue_shows_the_activity(site: Site) -> None:
    with site.catalog.session() as session:
        session.execute(text("UPDATE defects SET activity = 0.73"))
    http = client(site)
    items = http.get("/api/clips", headers=site.auth("viewer")).json()["items"]
    assert [item["activity"] for item in items] == [0.73]
    defects = http.get("/api/defects", headers=site.auth("viewer")).json()["items"]
    assert {d["activity"] for d in defects} == {0.73}
    jobs = http.get("/api/jobs", headers=site.auth("viewer")).json()["items"]
    assert all("claim_rank" in j for j in jobs)

    form = http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
    http.post("/login", data={"token": site.tokens["viewer"], "csrf_token": csrf})
    page = http.get("/queue").text
    assert re.search(r'<td class="activity">0\.73</td>', page), page
    assert "0.73" in http.get(f"/clips/{site.clip.clip_id}").text

    with site.catalog.session() as session:
        session.execute(text("UPDATE defects SET activity = NULL"))
    assert '<td class="activity">unknown</td>' in http.get("/queue").text
    assert (
        http.get("/api/clips", headers=site.auth("viewer")).json()["items"][0]["activity"] is None
    )
