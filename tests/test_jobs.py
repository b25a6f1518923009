"""The daemon's parts, in process and fast: queue commands through the CLI, the schedule, the repair
window budget, segment stability, retention, metrics, and workers racing for jobs (SQLite and
PostgreSQL). Whole processes, signals and the end-to-end daemon are in test_daemon.py."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_run import refused, succeeds
from sqlalchemy import select
from test_detect_clips import write_clip
from test_detect_scan import START, segment_path

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import EXPIRE_ACTION
from gapfill.catalog.models import (
    Camera,
    Defect,
    Model,
    ProvenanceEvent,
    RepairJob,
    SyntheticClip,
    SyntheticSpan,
)
from gapfill.cli import main
from gapfill.config import Settings
from gapfill.jobs import queue, tasks
from gapfill.jobs.metrics import DaemonMetrics, serve
from gapfill.jobs.retention import expire_outputs
from gapfill.jobs.settle import StabilityTracker, has_moov
from gapfill.jobs.watch import WatchReport, ingest_settled
from gapfill.jobs.window import RepairWindow, schedule_plan
from gapfill.jobs.worker import Worker, WorkerOptions
from gapfill.provenance.chain import walk_chain
from gapfill.provenance.sidecar import sidecar_path

T0 = dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)


def cli(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """Run `gapfill ARGS` as the console script does; returns stdout (stderr when it fails)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert exit_info.value.code == code, captured.err
    return captured.out if code == 0 else captured.err


def make_defects(catalog: Catalog, n: int, camera: str = "press-01") -> list[int]:
    with catalog.session() as session:
        cam = Camera(name=camera)
        session.add(cam)
        session.flush()
        defects = [
            Defect(
                camera_id=cam.id,
                kind="black",
                detector="t",
                start_time=T0 + dt.timedelta(seconds=10 * i),
                end_time=T0 + dt.timedelta(seconds=10 * i + 2),
            )
            for i in range(n)
        ]
        session.add_all(defects)
        session.flush()
        return [d.id for d in defects]


# --- queue commands ------------------------------------------------------------------------------


def test_jobs_list_retry_and_cancel_through_the_cli(
    catalog: Catalog, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    ids = make_defects(catalog, 3)
    with catalog.session() as session:
        assert len(queue.enqueue_open(session)) == 3
        claim = queue.claim_next(session, "w:1")
        assert claim is not None
        queue.fail(session, claim, "RuntimeError: boom")  # back to queued, with a backoff

    rows = json.loads(cli(capsys, "jobs", "--json"))
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert {r["state"] for r in rows} == {"queued"} and rows[0]["error"] == "RuntimeError: boom"
    assert rows[0]["camera"] == "press-01" and rows[0]["kind"] == "black"
    assert "0/3" in cli(capsys, "jobs")  # the table for people

    # retry of a job waiting out its backoff: claimable now
    assert dt.datetime.fromisoformat(rows[0]["not_before"]) > dt.datetime.now(dt.UTC)
    retried = json.loads(cli(capsys, "jobs", "retry", "1", "--json"))
    assert retried["id"] == 1 and dt.datetime.fromisoformat(
        retried["not_before"]
    ) <= dt.datetime.now(dt.UTC)

    cancelled = json.loads(cli(capsys, "jobs", "cancel", "2", "--json"))
    assert cancelled["state"] == "cancelled" and cancelled["error"].startswith("cancelled by user:")
    with catalog.session() as session:
        defect = session.get(Defect, ids[1])
        assert defect.state == "ignored" and "job 2 cancelled" in defect.state_reason
        assert queue.enqueue_open(session) == []  # a cancelled defect is not queued again

    assert [r["id"] for r in json.loads(cli(capsys, "jobs", "--state", "cancelled", "--json"))] == [
        2
    ]
    error = cli(capsys, "jobs", "cancel", "2", code=1)
    assert error.strip() == "error: jobs cancel: job 2 is cancelled, not queued or running"

    again = json.loads(cli(capsys, "jobs", "retry", "2", "--json"))
    assert again["retry_of"] == 2 and again["state"] == "queued" and again["id"] == 4
    with catalog.session() as session:
        assert session.get(Defect, ids[1]).state == "queued"
        assert session.get(RepairJob, 2).state == "cancelled"  # the record stays

    assert "no job 99" in cli(capsys, "jobs", "retry", "99", code=1)
    assert "not one of" in cli(capsys, "jobs", "--state", "bogus", code=1)


def test_retry_refuses_running_and_repaired(catalog: Catalog) -> None:
    from gapfill.errors import UserError

    ids = make_defects(catalog, 2)
    with catalog.session() as session:
        queue.enqueue(session, ids)
        claim = queue.claim_next(session, "w:1")
    with pytest.raises(UserError, match="is running on w:1"), catalog.session() as session:
        queue.retry(session, claim.job_id)
    with catalog.session() as session:
        queue.complete(session, claim)
        session.get(Defect, claim.defect_id).state = "repaired"
    with pytest.raises(UserError, match="already repaired"), catalog.session() as session:
        queue.retry(session, claim.job_id)


# --- schedule and the repair window ------------------------------------------------------------


def test_schedule_shows_next_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_RETENTION_DAYS", "30")
    monkeypatch.setenv("GAPFILL_SCAN_INTERVAL_SECONDS", "90")
    before = dt.datetime.now(dt.UTC)
    rows = {r["task"]: r for r in json.loads(cli(capsys, "schedule", "--json"))}
    assert set(rows) == {"watch", "repair-window", "verify", "retention"}
    window = rows["repair-window"]
    if window["open_until"] is not None:
        # Run between 01:00 and 06:00: the window is open now, and "next_run" is when it opened.
        opened = dt.datetime.fromisoformat(window["next_run"])
        assert opened <= before < dt.datetime.fromisoformat(window["open_until"])
        assert window["open_until"] == (opened + dt.timedelta(hours=5)).isoformat()
    for task in rows.values():
        next_run = dt.datetime.fromisoformat(task["next_run"])
        if task is window and window["open_until"] is not None:
            continue
        assert before < next_run <= before + dt.timedelta(days=1, minutes=1)
    assert rows["watch"]["when"] == "every 90 s"
    assert rows["repair-window"]["when"] == "cron 0 1 * * *"
    # The nightly window starts at 01:00 local time.
    local = dt.datetime.fromisoformat(rows["repair-window"]["next_run"]).astimezone()
    assert (local.hour, local.minute) == (1, 0)

    now_rows = {r["task"]: r for r in json.loads(cli(capsys, "schedule", "--repair-now", "--json"))}
    assert now_rows["repair-window"]["open_until"] is not None

    monkeypatch.setenv("GAPFILL_REPAIR_SCHEDULE", "61 * * * *")
    error = cli(capsys, "schedule", code=1)
    assert "repair_schedule: '61 * * * *' is not a valid cron expression" in error
    assert len(error.strip().splitlines()) == 1


@pytest.mark.parametrize("setting", ["REPAIR_SCHEDULE", "VERIFY_SCHEDULE"])
def test_a_schedule_that_never_fires_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    # Every field is in range, but there is no February 31st: the task would never run.
    monkeypatch.setenv(f"GAPFILL_{setting}", "0 0 31 2 *")
    assert refused(capsys, "schedule") == (
        f"error: {setting.lower()}: '0 0 31 2 *' never fires (no such date in any year); "
        "fix the day or month"
    )
    monkeypatch.setenv(f"GAPFILL_{setting}", "0 0 29 2 *")  # leap years only: rare but real
    succeeds(capsys, "schedule")


def test_repair_window_opens_at_the_cron_and_lasts_its_hours() -> None:
    window = RepairWindow("0 1 * * *", 5, timezone=dt.UTC)
    at = lambda h, m=0: dt.datetime(2026, 1, 5, h, m, tzinfo=dt.UTC)  # noqa: E731
    assert window.current(at(0, 59)) is None
    assert window.current(at(1)) == (at(1), at(6))
    assert window.current(at(5, 59)) == (at(1), at(6))
    assert window.current(at(6)) is None  # the budget is spent: what is left waits
    assert window.next_start(at(6)) == at(1) + dt.timedelta(days=1)
    # Windows longer than the cron period: the newest start counts.
    hourly = RepairWindow("0 * * * *", 2, timezone=dt.UTC)
    assert hourly.current(at(3, 30)) == (at(3), at(5))
    plan = {r["task"]: r for r in schedule_plan(Settings(), now=at(3))}
    assert plan["repair-window"]["next_run"] is not None


def _closed_schedule() -> str:
    """A cron line whose one-hour window is certainly not open now (12 hours away)."""
    hour = (dt.datetime.now().astimezone().hour + 12) % 24
    return f"0 {hour} * * *"


def test_workers_claim_only_inside_the_window(catalog: Catalog) -> None:
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        queue.enqueue(session, ids)
    closed = Settings(repair_schedule=_closed_schedule(), repair_window_hours=1)
    worker = Worker(catalog, closed, WorkerOptions(poll_seconds=0.05), repair=_fake_repair([]))
    assert worker.claim() is None
    with catalog.session() as session:
        assert session.get(RepairJob, 1).state == "queued"
    always = Settings(repair_schedule="* * * * *", repair_window_hours=1)
    worker = Worker(catalog, always, WorkerOptions(max_jobs=1), repair=_fake_repair([]))
    assert worker.run() == 1
    with catalog.session() as session:
        assert session.get(RepairJob, 1).state == "done"


def _bind_context(catalog: Catalog, settings: Settings, window: RepairWindow) -> DaemonMetrics:
    metrics = DaemonMetrics(catalog)
    tasks.bind(tasks.DaemonContext(catalog, settings, metrics, window))
    return metrics


def test_a_window_that_ends_leaves_its_jobs_for_the_next(catalog: Catalog) -> None:
    make_defects(catalog, 2)
    settings = Settings(scan_interval_seconds=1)
    # A window of 0.5 s with nobody working: it closes with both jobs still queued.
    short = RepairWindow("* * * * *", 0.5 / 3600, always_open=True)
    metrics = _bind_context(catalog, settings, short)
    try:
        began = time.monotonic()
        tasks.repair_window_task()
        assert time.monotonic() - began < 5
        assert metrics.last_nightly_success._value.get() == 0  # no success to report
        with catalog.session() as session:
            assert queue.counts_by_state(session)["queued"] == 2  # queued by the window
            for claim in iter(lambda: queue.claim_next(session, "w:1"), None):
                queue.complete(session, claim)
        tasks.repair_window_task()  # nothing left: the night succeeded
        assert metrics.last_nightly_success._value.get() > 0
    finally:
        tasks.bind(None)


# --- segments still being written --------------------------------------------------------------


def test_moov_index_tells_a_finished_mp4(tmp_path: Path) -> None:
    finished = write_clip(tmp_path / "a.mp4", 20)
    assert has_moov(finished)
    assert has_moov(write_clip(tmp_path / "fast.mp4", 20, faststart=True))
    data = finished.read_bytes()
    partial = tmp_path / "partial.mp4"
    partial.write_bytes(data[: len(data) // 2])  # a recorder mid-segment: no index yet
    assert not has_moov(partial)
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x01junk" * 10)
    assert not has_moov(tmp_path / "junk.mp4")


def test_a_file_is_settled_when_unchanged_old_enough_and_indexed(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", 20)
    tracker = StabilityTracker(settle_seconds=5, abandon_seconds=60)
    mtime = clip.stat().st_mtime
    assert not tracker.settled(clip, now=0, wall=mtime + 10)  # first look
    assert not tracker.settled(clip, now=1, wall=mtime + 1)  # too fresh
    assert tracker.settled(clip, now=2, wall=mtime + 10)
    with clip.open("ab") as handle:  # grew: start over
        handle.write(b"\x00\x00\x00\x08free")
    assert not tracker.settled(clip, now=3, wall=time.time() + 10)

    partial = tmp_path / "partial.mp4"
    partial.write_bytes(clip.read_bytes()[:2000])
    wall = partial.stat().st_mtime + 100
    assert not tracker.settled(partial, now=0, wall=wall)
    assert not tracker.settled(partial, now=30, wall=wall)  # quiet, but no index
    assert tracker.settled(partial, now=61, wall=wall)  # abandoned: ingest records it as bad


def test_ingest_waits_for_a_segment_being_written(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    final = root / "2026-01-05" / "07" / "press-01" / "00.00.mp4"
    whole = write_clip(tmp_path / "whole.mp4", 30).read_bytes()
    final.parent.mkdir(parents=True)
    final.write_bytes(whole[: len(whole) // 2])
    tracker = StabilityTracker(settle_seconds=0, abandon_seconds=3600)
    for _ in range(3):
        ingest_settled(catalog, root, "frigate", tracker, report := WatchReport())
        assert report.ingested == 0 and report.waiting == 1
    final.write_bytes(whole)
    ingest_settled(catalog, root, "frigate", tracker, report := WatchReport())
    assert report.ingested == 0  # changed since the last look
    ingest_settled(catalog, root, "frigate", tracker, report := WatchReport())
    assert report.ingested == 1
    ingest_settled(catalog, root, "frigate", tracker, report := WatchReport())
    assert report.ingested == 0 and report.waiting == 0


def test_a_dead_recorder_s_file_scanned_before_the_next_segment_leaves_a_hole(
    catalog: Catalog, tmp_path: Path
) -> None:
    """As the daemon meets it when a recorder dies mid-segment: the file without its index is given
    up on (abandon_seconds) and scanned while it is the newest; the next segment arrives later.
    Scanning that one must still report the hole the dead file left."""
    from gapfill.detect.scan import scan
    from gapfill.ingest import ingest

    root = tmp_path / "rec"
    paths = [segment_path(root, "press-01", START + dt.timedelta(seconds=6 * j)) for j in range(3)]
    settings = Settings(data_dir=tmp_path / "data")
    whole = write_clip(tmp_path / "whole.mp4", 60, seed=1).read_bytes()
    for j, write in enumerate(
        [
            lambda: write_clip(paths[0], 60, seed=0),
            lambda: paths[1].write_bytes(whole[: len(whole) // 2]),  # cut before its index
            lambda: write_clip(paths[2], 60, seed=2),
        ]
    ):
        paths[j].parent.mkdir(parents=True, exist_ok=True)
        write()  # each segment ingested and scanned as soon as it is there
        ingest(catalog, root, "frigate")
        scan(catalog, settings, workers=1, progress=False)
    with catalog.session() as session:
        holes = [
            (d.start_time.replace(tzinfo=dt.UTC), d.end_time.replace(tzinfo=dt.UTC))
            for d in session.scalars(select(Defect).where(Defect.kind == "missing"))
        ]
    assert holes == [(START + dt.timedelta(seconds=6), START + dt.timedelta(seconds=12))]


# --- retention ---------------------------------------------------------------------------------


def make_clip(catalog: Catalog, folder: Path, defect_id: int, created: dt.datetime) -> int:
    """A synthetic clip row with a file and a sidecar (content does not matter here)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"clip-{defect_id}.mp4"
    path.write_bytes(b"clip")
    sidecar_path(path).write_text("{}")
    with catalog.session() as session:
        defect = session.get(Defect, defect_id)
        model = session.scalar(select(Model)) or Model(name="m", sha256="0" * 64, path="/m")
        session.add(model)
        session.flush()
        clip = SyntheticClip(
            defect_id=defect_id,
            camera_id=defect.camera_id,
            path=str(path),
            sha256="1" * 64,
            size_bytes=4,
            model_id=model.id,
            provenance_id=f"{defect_id:032x}",
            start_time=defect.start_time,
            end_time=defect.end_time,
            created_at=created,
        )
        session.add(clip)
        session.flush()
        session.add(
            SyntheticSpan(
                clip_id=clip.id,
                camera_id=defect.camera_id,
                defect_id=defect_id,
                frame_start=0,
                frame_end=20,
                start_time=defect.start_time,
                end_time=defect.end_time,
            )
        )
        return clip.id


def test_retention_deletes_old_files_and_records_it(catalog: Catalog, tmp_path: Path) -> None:
    ids = make_defects(catalog, 2)
    now = dt.datetime.now(dt.UTC)
    old = make_clip(catalog, tmp_path / "out", ids[0], now - dt.timedelta(days=10))
    new = make_clip(catalog, tmp_path / "out", ids[1], now - dt.timedelta(days=1))
    old_path, new_path = (
        tmp_path / "out" / f"clip-{ids[0]}.mp4",
        tmp_path / "out" / f"clip-{ids[1]}.mp4",
    )

    assert expire_outputs(catalog, Settings(retention_days=0), "system:t").expired == []
    assert old_path.exists()

    report = expire_outputs(catalog, Settings(retention_days=7), "system:t")
    assert report.expired == [str(old_path)]
    assert not old_path.exists() and not sidecar_path(old_path).exists()
    assert new_path.exists() and sidecar_path(new_path).exists()
    with catalog.session() as session:
        assert session.get(SyntheticClip, old) is not None  # the row stays
        assert session.get(SyntheticClip, new) is not None
        [event] = session.scalars(
            select(ProvenanceEvent).where(ProvenanceEvent.action == EXPIRE_ACTION)
        ).all()
        payload = json.loads(event.payload)
        assert event.subject_id == f"{ids[0]:032x}" and payload["path"] == str(old_path)
        assert payload["rule"] == "retention_days=7" and payload["sha256"] == "1" * 64
        assert list(walk_chain(session)) == []
    # Idempotent: nothing more to expire, no second event.
    assert expire_outputs(catalog, Settings(retention_days=7), "system:t").expired == []
    with catalog.session() as session:
        events = session.scalars(
            select(ProvenanceEvent).where(ProvenanceEvent.action == EXPIRE_ACTION)
        ).all()
        assert len(events) == 1


def test_retention_finishes_a_deletion_a_crash_interrupted(
    catalog: Catalog, tmp_path: Path
) -> None:
    ids = make_defects(catalog, 1)
    now = dt.datetime.now(dt.UTC)
    make_clip(catalog, tmp_path / "out", ids[0], now - dt.timedelta(days=10))
    path = tmp_path / "out" / f"clip-{ids[0]}.mp4"
    content = path.read_bytes()
    expire_outputs(catalog, Settings(retention_days=7), "system:t")
    path.write_bytes(content)  # as if the process died after the event, before the unlink
    assert expire_outputs(catalog, Settings(retention_days=7), "system:t").expired == [str(path)]
    assert not path.exists()
    with catalog.session() as session:
        assert (
            len(
                session.scalars(
                    select(ProvenanceEvent).where(ProvenanceEvent.action == EXPIRE_ACTION)
                ).all()
            )
            == 1
        )


# --- metrics -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_endpoint_reads_the_queue_at_scrape_time(catalog: Catalog, tmp_path: Path) -> None:
    ids = make_defects(catalog, 4)
    with catalog.session() as session:
        queue.enqueue(session, ids)
        for state in ("done", "done", "dead"):
            claim = queue.claim_next(session, "w:1")
            if state == "done":
                queue.complete(session, claim)
            else:
                queue.fail(session, claim, "boom", retry=False)
    make_clip(catalog, tmp_path / "out", ids[0], dt.datetime.now(dt.UTC))  # a 2 s span
    metrics = DaemonMetrics(catalog)
    metrics.observe_repair("repaired", 3.5)
    metrics.scan_lag.set(12.5)
    metrics.last_nightly_success.set(1767600000)
    healthy = {"ok": True}
    port = free_port()
    server = serve(metrics, port, lambda: (healthy["ok"], {"workers_alive": 2}))
    try:
        status, text = fetch(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        lines = set(text.splitlines())
        assert 'gapfill_jobs{state="queued"} 1.0' in lines
        assert 'gapfill_jobs{state="done"} 2.0' in lines
        assert 'gapfill_jobs{state="running"} 0.0' in lines
        assert "gapfill_jobs_done_total 2.0" in lines
        assert "gapfill_jobs_failed_total 1.0" in lines
        assert "gapfill_synthesized_seconds_total 2.0" in lines
        assert 'gapfill_repair_seconds_count{outcome="repaired"} 1.0' in lines
        assert 'gapfill_repair_seconds_bucket{le="5.0",outcome="repaired"} 1.0' in lines
        assert "gapfill_scan_lag_seconds 12.5" in lines
        assert "gapfill_last_nightly_success_timestamp_seconds 1.7676e+09" in lines
        assert "gapfill_verify_failures_total 0.0" in lines
        assert "gapfill_catalog_up 1.0" in lines

        # The figures are the database's, not this process's: another worker's claim shows.
        with catalog.session() as session:
            queue.claim_next(session, "elsewhere:1")
        _, text = fetch(f"http://127.0.0.1:{port}/metrics")
        assert 'gapfill_jobs{state="running"} 1.0' in text.splitlines()

        status, body = fetch(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok", "workers_alive": 2}
        healthy["ok"] = False
        status, body = fetch(f"http://127.0.0.1:{port}/healthz")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"
        assert fetch(f"http://127.0.0.1:{port}/other")[0] == 404
    finally:
        server.shutdown()


def test_verify_task_failure_is_logged_and_counted(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import update

    from gapfill.provenance.chain import append_event

    settings = Settings()
    metrics = _bind_context(catalog, settings, RepairWindow.from_settings(settings))
    try:
        with catalog.session() as session:
            for i in range(2):
                append_event(session, "ingest", "system:t", "recording", i, {"n": i})
        tasks.verify_task()
        assert metrics.verify_failures._value.get() == 0
        assert metrics.last_verify._value.get() > 0
        with catalog.session() as session:  # someone edits the record
            session.execute(
                update(ProvenanceEvent).where(ProvenanceEvent.seq == 1).values(payload="{}")
            )
        tasks.verify_task()
    finally:
        tasks.bind(None)
    assert metrics.verify_failures._value.get() == 1
    assert metrics.verify_problems._value.get() == 1
    failed = [r for r in caplog.records if r.message == "verify failed"]
    assert failed and failed[0].levelname == "ERROR" and failed[0].problems == 1


# --- workers racing ------------------------------------------------------------------------------


def _fake_repair(ran: list[int], lock: threading.Lock | None = None, pause: float = 0.0):
    lock = lock or threading.Lock()

    def repair(defect_id: int, job_id: int, actor: str) -> object:
        with lock:
            ran.append(job_id)
        time.sleep(pause)
        return types.SimpleNamespace(state="repaired", synthetic_seconds=1.0, reason=None)

    return repair


def test_racing_workers_never_run_the_same_job(catalog: Catalog) -> None:
    """Two workers with their own connections claim from one queue at once (on PostgreSQL with
    SKIP LOCKED; on SQLite the claim takes the write lock first)."""
    ids = make_defects(catalog, 24)
    with catalog.session() as session:
        queue.enqueue(session, ids)
    settings = Settings(repair_schedule="* * * * *")
    ran: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    workers = [
        Worker(
            Catalog(catalog.url),
            settings,
            WorkerOptions(poll_seconds=0.01, name=f"w{i}:1"),
            repair=_fake_repair(ran, lock, pause=0.01),
            stop=stop,
        )
        for i in range(2)
    ]
    threads = [threading.Thread(target=w.run) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with catalog.session() as session:
                if queue.counts_by_state(session)["done"] == len(ids):
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        for worker in workers:
            worker.catalog.dispose()
    assert sorted(ran) == sorted(set(ran)) == list(range(1, len(ids) + 1))
    assert all(w.jobs_run > 0 for w in workers), [w.jobs_run for w in workers]
    with catalog.session() as session:
        jobs = session.scalars(select(RepairJob)).all()
        assert {j.state for j in jobs} == {"done"} and {j.attempts for j in jobs} == {1}


def test_a_failing_job_never_stops_the_worker(catalog: Catalog) -> None:
    ids = make_defects(catalog, 2)
    with catalog.session() as session:
        queue.enqueue(session, ids)

    def repair(defect_id: int, job_id: int, actor: str) -> object:
        if job_id == 1:
            raise RuntimeError("decoder exploded")
        return types.SimpleNamespace(state="unrepairable", synthetic_seconds=0.0, reason="short")

    outcomes = []
    settings = Settings(repair_schedule="* * * * *")
    worker = Worker(
        catalog, settings, WorkerOptions(max_jobs=2), repair=repair, on_outcome=outcomes.append
    )
    assert worker.run() == 2
    assert [o.outcome for o in outcomes] == ["failed", "unrepairable"]
    with catalog.session() as session:
        failed, done = session.get(RepairJob, 1), session.get(RepairJob, 2)
        assert failed.state == "queued" and failed.error == "RuntimeError: decoder exploded"
        assert failed.not_before > dt.datetime.now(dt.UTC)  # backing off
        assert done.state == "done"


def test_a_job_cancelled_while_running_stays_cancelled(catalog: Catalog) -> None:
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        [job_id] = queue.enqueue(session, ids)

    def repair(defect_id: int, job_id: int, actor: str) -> object:
        with catalog.session() as session:  # a person cancels it meanwhile
            queue.cancel(session, job_id, "user:test")
        raise RuntimeError("defect became ignored during the repair")

    worker = Worker(
        catalog, Settings(repair_schedule="* * * * *"), WorkerOptions(max_jobs=1), repair=repair
    )
    worker.run()
    with catalog.session() as session:
        job = session.get(RepairJob, job_id)
        assert job.state == "cancelled" and "while running" in job.error
        assert session.get(Defect, ids[0]).state == "ignored"
