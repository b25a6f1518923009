"""Whole processes: workers stopped by SIGTERM and killed by SIGKILL; the daemon end to end,
watching a directory while a feed process writes a recording with faults into it in real time,
repairing them with a tiny MALT checkpoint, surviving a SIGTERM halfway; and the daemon's schedule
across restarts (SIGTERM and SIGKILL) around a nightly window."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from live_site import (
    GAPFILL,
    child_pids,
    log_records,
    log_tail,
    match_faults,
    pid_alive,
    sha256_of,
    start_daemon,
    start_feed,
    wait_for_line,
    wait_until,
)
from sqlalchemy import func, select
from test_detect_clips import Faults, write_clip
from test_detect_scan import START, segment_path
from test_jobs import fetch, free_port, make_defects
from test_repair import invoke

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Defect, Recording, RepairJob, SyntheticClip
from gapfill.config import load_settings
from gapfill.jobs import queue
from gapfill.jobs.daemon import next_runs_of_stored_jobs
from gapfill.jobs.recovery import LOCK_NAME as RECOVERY_LOCK_NAME
from gapfill.jobs.worker import Worker, WorkerOptions
from gapfill.provenance.sidecar import sidecar_path
from gapfill.synth.truth import GroundTruth

# A worker whose repair is wrapped: it announces itself on stdout and pauses where the test wants
# to interrupt it. argv: mode (fake | before | after), pause seconds, lease seconds.
WORKER_SCRIPT = r"""
import sys, time, types
from gapfill import logs
from gapfill.catalog.db import open_catalog
from gapfill.config import load_settings
from gapfill.jobs import worker as w

mode, pause, lease = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
settings = load_settings()
logs.configure("INFO", True)
catalog = open_catalog(settings)
real = w.default_repair(catalog, settings)

def repair(defect_id, job_id, actor):
    print("started", job_id, flush=True)
    if mode == "fake":
        time.sleep(pause)
        return types.SimpleNamespace(state="repaired", synthetic_seconds=0.0, reason=None)
    if mode == "before":
        time.sleep(pause)
    result = real(defect_id, job_id, actor)
    print("recorded", job_id, result.state, flush=True)
    time.sleep(pause if mode == "after" else 0)
    return result

options = w.WorkerOptions(lease_seconds=lease, poll_seconds=0.1, repair_now=True, max_jobs=1)
worker = w.Worker(catalog, settings, options, repair=repair)
w.install_signal_handlers(worker, settings.shutdown_grace_seconds)
worker.run()
"""

sqlite_only = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)


def start_worker(
    processes: list[subprocess.Popen[str]], mode: str, pause: float, lease: float
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, mode, str(pause), str(lease)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    return process


def job(catalog: Catalog, job_id: int) -> RepairJob:
    with catalog.session() as session:
        row = session.get(RepairJob, job_id)
        assert row is not None
        return row


@sqlite_only
@pytest.mark.parametrize("grace, pause", [(1.0, 60.0), (30.0, 1.0)], ids=["releases", "finishes"])
def test_sigterm_finishes_or_releases_the_job(
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[str]],
    grace: float,
    pause: float,
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_SHUTDOWN_GRACE_SECONDS", str(grace))
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        [job_id] = queue.enqueue(session, ids)
    worker = start_worker(processes, "fake", pause, lease=60)
    wait_for_line(worker.stdout, "started")
    assert job(catalog, job_id).state == "running"
    began = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(grace + 20) == 0
    row = job(catalog, job_id)
    if pause > grace:  # not done in time: given back at once, the attempt not counted
        assert time.monotonic() - began < grace + 10
        assert (row.state, row.attempts, row.claimed_by) == ("queued", 0, None)
        assert "grace time over: job released" in worker.stderr.read()
    else:
        assert (row.state, row.attempts) == ("done", 1)


@pytest.fixture
def site(
    tmp_path: Path, catalog: Catalog, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Three segments, the middle one with black frames; catalogued, scanned, one job queued."""
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    root = tmp_path / "recordings"
    for j, faults in enumerate([None, Faults(black=[(20, 30)]), None]):
        write_clip(segment_path(root, "press-01", START + dt.timedelta(seconds=6 * j)), 60, faults)
    invoke("keys", "init")
    invoke("ingest", str(root), "--json")
    invoke("scan", "--json")
    with catalog.session() as session:
        assert len(queue.enqueue_open(session)) == 1
    return root


@sqlite_only
@pytest.mark.parametrize("kill_at", ["before", "after"])
def test_a_killed_worker_s_job_is_reclaimed_and_done_once(
    site: Path, catalog: Catalog, processes: list[subprocess.Popen[str]], kill_at: str
) -> None:
    """SIGKILL mid-job: after the lease expires another worker takes the job over. Killed before
    its repair, the job is repaired by the second worker; killed after the repair was recorded but
    before the job was marked done, the second worker finds the defect repaired and does not
    make a second clip."""
    lease = 2.0
    first = start_worker(processes, kill_at, pause=120, lease=lease)
    wait_for_line(first.stdout, "started" if kill_at == "before" else "recorded", timeout=90)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert job(catalog, 1).state == "running"  # nobody said otherwise: the lease must expire

    if kill_at == "after":  # the stand-alone worker command, as on another host
        second = subprocess.run(
            [
                *GAPFILL,
                "worker",
                "--repair-now",
                "--lease-seconds",
                "30",
                "--poll-seconds",
                "0.2",
                "--max-jobs",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr
    else:
        worker = Worker(
            catalog,
            load_settings(),
            WorkerOptions(lease_seconds=30, poll_seconds=0.1, repair_now=True, max_jobs=1),
        )
        assert worker.run() == 1

    row = job(catalog, 1)
    assert (row.state, row.attempts) == ("done", 2)
    with catalog.session() as session:
        defect = session.scalars(select(Defect)).one()
        assert defect.state == "repaired"
        clips = session.scalars(select(SyntheticClip)).all()
    assert len(clips) == 1 and Path(clips[0].path).is_file()


@sqlite_only
def test_retention_then_verify_stays_green(
    site: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clip removed by retention is not a verification failure: its `expire` event explains
    the missing file; a missing file without one still is."""
    from gapfill.jobs.retention import expire_outputs
    from gapfill.provenance.verify import verify

    worker = Worker(
        catalog, load_settings(), WorkerOptions(repair_now=True, max_jobs=1, poll_seconds=0.1)
    )
    assert worker.run() == 1
    settings = load_settings(retention_days=1)
    report = verify(catalog, settings)
    assert report.ok and report.clips_expired == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert len(expire_outputs(catalog, settings, "system:test", now=later).expired) == 1
    report = verify(catalog, settings)
    assert report.ok and report.clips_expired == 1, report.problems


# --- the daemon, end to end, against a live feed -------------------------------------------------

# Minutes of recording the feed plays in real time (each camera; 6 s segments). The whole test
# takes about this plus a minute: the daemon's start, the queue draining after the last segment,
# the checks. Raise it for a longer soak: GAPFILL_TEST_LIVE_MINUTES=10.
LIVE_MINUTES = float(os.environ.get("GAPFILL_TEST_LIVE_MINUTES", "1.5"))
LIVE_GRACE_SECONDS = 3.0  # short: a repair still running at SIGTERM may well be released
LIVE_OPTIONS = (
    "--workers",
    "2",
    "--repair-now",
    # The feed writes a segment in 4 pieces over its 6 s: a piece every 1.5 s. A file quiet for
    # 2.5 s is complete; one without its index is given up on (the recorder died) after 5 s,
    # often before the next segment is in: the hole after it must still be found (see
    # test_jobs.py::test_a_dead_recorder_s_file_scanned_before_the_next_segment_leaves_a_hole).
    "--settle-seconds",
    "2.5",
    "--abandon-seconds",
    "5",
    "--poll-seconds",
    "0.2",
    "--lease-seconds",
    "30",
)


def _queue_state(catalog: Catalog) -> dict[str, int]:
    with catalog.session() as session:
        counts = queue.counts_by_state(session)
        counts["open_defects"] = session.scalar(
            select(func.count()).select_from(Defect).where(Defect.state == "open")
        )
        counts["scanned"] = session.scalar(
            select(func.count()).select_from(Recording).where(Recording.scanned_at.is_not(None))
        )
    return counts


def _defect_rows(catalog: Catalog) -> list[dict[str, object]]:
    with catalog.session() as session:
        rows = session.execute(
            select(Defect, Camera.name).join(Camera, Defect.camera_id == Camera.id)
        ).all()
        return [
            {
                "id": d.id,
                "camera": name,
                "kind": d.kind,
                "start": d.start_time.replace(tzinfo=dt.UTC),
                "end": d.end_time.replace(tzinfo=dt.UTC),
                "state": d.state,
                "reason": d.state_reason,
                "detector": d.detector,
            }
            for d, name in rows
        ]


def test_daemon_keeps_up_with_a_live_feed(
    tmp_path: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[str]],
) -> None:
    """A feed process plays a recording with every kind of fault into the watched directory in
    real time while `gapfill daemon` (2 workers, tiny model) ingests, scans and repairs. Halfway the
    daemon gets SIGTERM in the middle of a repair and is started again. At the end every injected
    fault is a repaired (or unrepairable, with the reason) defect with exactly one clip, nothing
    half-written sits under a final name, the originals are untouched and verify passes."""
    feed = tmp_path / "recordings"
    feed.mkdir()
    staging = tmp_path / "staging"
    port = free_port()
    for name, value in {
        "GAPFILL_MODEL_PATH": str(tiny_checkpoint),
        "GAPFILL_RECORDINGS_DIRS": json.dumps([str(feed)]),
        "GAPFILL_SCAN_INTERVAL_SECONDS": "1",
        "GAPFILL_METRICS_PORT": str(port),
        "GAPFILL_SHUTDOWN_GRACE_SECONDS": str(LIVE_GRACE_SECONDS),
        "GAPFILL_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    invoke("init")
    invoke("keys", "init")
    settings = load_settings()
    catalog = Catalog(settings.effective_database_url)
    logs = [tmp_path / "daemon-1.log", tmp_path / "daemon-2.log"]
    daemon = start_daemon(processes, logs[0], *LIVE_OPTIONS)
    recorder = start_feed(processes, feed, staging, LIVE_MINUTES)
    truth = GroundTruth.load(wait_for_line(recorder.stdout, "ready ", 120).split(" ", 1)[1].strip())
    began = time.monotonic()
    feed_lines: list[str] = []
    reader = threading.Thread(target=lambda: feed_lines.extend(recorder.stdout), daemon=True)
    reader.start()

    def alive(process: subprocess.Popen[str], log: Path) -> None:
        assert process.poll() is None, log_tail(log)

    # --- halfway: SIGTERM in the middle of a repair, then a fresh daemon ---
    wait_until(lambda: time.monotonic() - began > LIVE_MINUTES * 30, LIVE_MINUTES * 60, "halfway")

    def running_job() -> bool:
        alive(daemon, logs[0])
        return _queue_state(catalog)["running"] > 0

    wait_until(running_job, LIVE_MINUTES * 30 + 30, "a repair to be running", poll=0.05)
    with catalog.session() as session:
        interrupted = [j.id for j in queue.list_jobs(session, "running")]
    daemon.send_signal(signal.SIGTERM)

    def settled_jobs() -> bool:
        with catalog.session() as session:
            return queue.list_jobs(session, "running") == []

    # Within the grace time (and a little for the last transaction) every job is done, or queued
    # again; then the daemon exits (a scan in progress may take it a little longer).
    wait_until(settled_jobs, LIVE_GRACE_SECONDS + 5, "the running jobs to settle", poll=0.1)
    with catalog.session() as session:
        after_stop = {j: session.get(RepairJob, j).state for j in interrupted}
    assert set(after_stop.values()) <= {"done", "queued"}, after_stop
    assert daemon.wait(LIVE_GRACE_SECONDS + 20) == 0, log_tail(logs[0])
    daemon = start_daemon(processes, logs[1], *LIVE_OPTIONS)

    # --- the feed ends; the queue drains ---
    assert recorder.wait(LIVE_MINUTES * 60 + 120) == 0
    reader.join(10)
    assert feed_lines[-1].strip() == "done", feed_lines[-3:]
    written = sorted(p.relative_to(feed).as_posix() for p in feed.rglob("*.mp4"))

    def drained() -> bool:
        alive(daemon, logs[1])
        state = _queue_state(catalog)
        return (
            state["scanned"] == len(written)
            and state["queued"] == state["running"] == state["open_defects"] == 0
        )

    wait_until(drained, 180, "every segment scanned and the queue drained")
    health = json.loads(fetch(f"http://127.0.0.1:{port}/healthz")[1])
    metrics = fetch(f"http://127.0.0.1:{port}/metrics")[1]
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0, log_tail(logs[1])
    elapsed = time.monotonic() - began

    # --- the originals: every file the feed wrote, catalogued whole and untouched ---
    source = staging / "rec"
    assert written == sorted(p.relative_to(source).as_posix() for p in source.rglob("*.mp4")), (
        "the feed's files differ from the recording it played"
    )
    for relative in written:
        assert (feed / relative).read_bytes() == (source / relative).read_bytes(), relative
    with catalog.session() as session:
        recordings = session.scalars(select(Recording)).all()
        clips = session.scalars(select(SyntheticClip)).all()
        jobs = session.scalars(select(RepairJob)).all()
    catalog.dispose()
    assert sorted(Path(r.path).relative_to(feed).as_posix() for r in recordings) == written
    for recording in recordings:  # not taken while still being written
        assert recording.sha256 == sha256_of(Path(recording.path)), recording.path
    died = {f.path for f in truth.faults if f.fault == "truncated" and f.variant == "index"}
    unreadable = {
        Path(r.path).relative_to(feed).as_posix() for r in recordings if r.status == "unreadable"
    }
    assert unreadable == died  # only the files whose recorder died before writing the index

    # --- every fault a settled defect, and no defect without a fault ---
    defects = _defect_rows(catalog)
    missed, unexplained = match_faults(truth, defects)
    assert not missed, f"faults without a defect: {missed}"
    assert not unexplained, f"defects without a fault: {unexplained}"
    assert {f.kind for f in truth.faults} <= {d["kind"] for d in defects}
    for defect in defects:
        assert defect["state"] in ("repaired", "unrepairable"), defect
        if defect["state"] == "unrepairable":
            assert defect["reason"], defect
    repaired = sorted(d["id"] for d in defects if d["state"] == "repaired")
    assert repaired, "no defect repaired"

    # --- exactly one clip per repaired defect; nothing half-made under a final name ---
    assert sorted(c.defect_id for c in clips) == repaired
    for clip in clips:
        assert sha256_of(Path(clip.path)) == clip.sha256, clip.path
    expected = {Path(c.path) for c in clips} | {sidecar_path(c.path) for c in clips}
    outputs = {p for p in settings.effective_output_dir.rglob("*") if p.is_file()}
    leftovers = {p for p in outputs - expected if not p.name.startswith(".")}
    assert not leftovers, f"files under final names that are no catalogued clip: {leftovers}"
    # Hidden files left: a pending clip cut off by the SIGTERM, and the workers' recovery lock.
    hidden = {p for p in outputs - expected if p.name != RECOVERY_LOCK_NAME}
    assert all(p.name.endswith(".part") for p in hidden), hidden
    assert {j.state for j in jobs} == {"done"} and len({j.defect_id for j in jobs}) == len(jobs)
    invoke("verify", "--all")

    # --- what the daemons said ---
    assert health["status"] == "ok" and health["workers_alive"] == 2
    assert f'gapfill_jobs{{state="done"}} {float(len(jobs))}' in metrics.splitlines()
    assert "gapfill_last_nightly_success_timestamp_seconds" in metrics
    records = [r for log in logs for r in log_records(log)]
    finished = [r for r in records if r.get("message") == "job finished"]
    assert {r["job_id"] for r in finished} == {j.id for j in jobs}
    assert sum(r.get("message") == "daemon stopped" for r in records) == 2
    errors = [r for r in records if r.get("level") == "error"]
    assert not errors, errors[:3]
    print(
        f"live feed: {elapsed:.0f} s, {len(written)} segments, {len(truth.faults)} faults, "
        f"{len(defects)} defects, {len(repaired)} repaired, interrupted jobs {after_stop}"
    )


# --- stopping and starting the daemon ------------------------------------------------------------


def test_workers_stop_when_their_daemon_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: list[subprocess.Popen[str]]
) -> None:
    """A SIGKILLed daemon cannot pass SIGTERM on: its worker processes must notice it is gone and
    stop by themselves (finishing or releasing their job), or each restart would add another set
    of unsupervised workers."""
    (tmp_path / "recordings").mkdir()
    for name, value in {
        "GAPFILL_RECORDINGS_DIRS": json.dumps([str(tmp_path / "recordings")]),
        "GAPFILL_METRICS_PORT": "0",
        "GAPFILL_SHUTDOWN_GRACE_SECONDS": "2",
        "GAPFILL_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    invoke("init")
    invoke("keys", "init")  # workers are refused a start without keys (gapfill/preflight.py)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(processes, log, "--workers", "2", "--poll-seconds", "0.2")

    def workers_started() -> bool:
        assert daemon.poll() is None, log_tail(log)
        return sum(r.get("message") == "worker started" for r in log_records(log)) == 2

    wait_until(workers_started, 90, "two workers to start")
    children = child_pids(daemon.pid)
    assert len(children) >= 2, children  # the workers (and multiprocessing's resource tracker)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(10)
    try:
        wait_until(lambda: not any(pid_alive(p) for p in children), 20, "orphaned workers to stop")
    finally:
        for pid in children:  # by their own pids, only if the test failed
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    stopped = [r for r in log_records(log) if r.get("message") == "daemon process gone: stopping"]
    assert len(stopped) == 2


WINDOW_SECONDS = 60  # the repair window's length, and so its misfire grace time


@dataclass
class _Site:
    """A catalog and a configuration of its own, for daemons started one after the other."""

    name: str
    stop_with: signal.Signals
    env: dict[str, str]
    catalog: Catalog
    logs: list[Path] = field(default_factory=list)
    daemon: subprocess.Popen[str] | None = None

    def start(self, processes: list[subprocess.Popen[str]]) -> None:
        self.logs.append(self.catalog_dir / f"daemon-{len(self.logs) + 1}.log")
        self.daemon = start_daemon(
            processes, self.logs[-1], "--workers", "0", "--poll-seconds", "0.2", env=self.env
        )

    @property
    def catalog_dir(self) -> Path:
        return Path(self.env["GAPFILL_DATA_DIR"])

    def started(self) -> bool:
        assert self.daemon is not None and self.daemon.poll() is None, log_tail(self.logs[-1])
        return any(r.get("message") == "daemon started" for r in log_records(self.logs[-1]))

    def stop(self, how: signal.Signals) -> None:
        assert self.daemon is not None
        self.daemon.send_signal(how)
        code = self.daemon.wait(30)
        assert code == (0 if how == signal.SIGTERM else -how), log_tail(self.logs[-1])

    def windows_opened(self) -> list[dt.datetime]:
        return [
            dt.datetime.fromisoformat(r["window_start"])
            for log in self.logs
            for r in log_records(log)
            if r.get("message") == "repair window open"
        ]

    def stored_next_window(self) -> dt.datetime | None:
        return next_runs_of_stored_jobs(self.catalog).get("repair-window")


def _sleep_until(moment: dt.datetime) -> None:
    time.sleep(max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds()))


def test_a_nightly_window_runs_once_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: list[subprocess.Popen[str]]
) -> None:
    """The repair window's start is stored in the catalog (APScheduler's job store). A daemon down
    when the window should open runs it when it comes back within the window, once; a daemon
    restarted after the window opened does not open it again. Two sites go through the same
    timeline at once, one stopped with SIGTERM each time, the other with SIGKILL.

    The window is a real daily cron line whose start is the next minute at least 25 s away (the
    code reads the wall clock; there is no clock to move), lasting WINDOW_SECONDS."""
    # The first minute boundary 25 to 85 s from now: time for a daemon to start and stop before.
    local_now = dt.datetime.now().astimezone()
    opens = (local_now + dt.timedelta(seconds=85)).replace(second=0, microsecond=0)
    (tmp_path / "recordings").mkdir()
    sites = []
    for how in (signal.SIGTERM, signal.SIGKILL):
        data = tmp_path / how.name
        env = {
            **os.environ,
            "GAPFILL_DATA_DIR": str(data),
            "GAPFILL_RECORDINGS_DIRS": json.dumps([str(tmp_path / "recordings")]),
            "GAPFILL_REPAIR_SCHEDULE": f"{opens.minute} {opens.hour} * * *",
            "GAPFILL_REPAIR_WINDOW_HOURS": str(WINDOW_SECONDS / 3600),
            "GAPFILL_SCAN_INTERVAL_SECONDS": "1",
            "GAPFILL_METRICS_PORT": "0",
            "GAPFILL_LOG_LEVEL": "INFO",
        }
        monkeypatch.setenv("GAPFILL_DATA_DIR", str(data))
        invoke("init")
        catalog = Catalog(load_settings().effective_database_url)
        make_defects(catalog, 1)  # nobody repairs it (no workers): the window stays busy
        sites.append(_Site(how.name, how, env, catalog))

    try:
        # 1. Before the window: the daemon stores when the window opens, and is stopped.
        for site in sites:
            site.start(processes)
        for site in sites:
            wait_until(site.started, 20, f"{site.name}: daemon to start")
            assert site.stored_next_window() == opens
            assert site.windows_opened() == []
            site.stop(site.stop_with)
        assert dt.datetime.now(dt.UTC) < opens, "the machine is too slow for this timeline"

        # 2. The window opens while no daemon runs; one started a little later runs it, once.
        _sleep_until(opens + dt.timedelta(seconds=2))
        for site in sites:
            site.start(processes)
        for site in sites:
            wait_until(lambda s=site: s.windows_opened() == [opens], 30, f"{site.name}: window")
            # The run is stored before the daemon goes: the next one is tomorrow's.
            wait_until(
                lambda s=site: s.stored_next_window() == opens + dt.timedelta(days=1),
                10,
                f"{site.name}: tomorrow's window stored",
            )
            site.stop(site.stop_with)  # in the middle of the window's task

        # 3. Started again inside the same window: the window that ran is not run again.
        for site in sites:
            site.start(processes)
        for site in sites:
            wait_until(site.started, 20, f"{site.name}: daemon to start again")
        time.sleep(3)  # a due job runs as soon as the scheduler resumes: give it the chance
        assert dt.datetime.now(dt.UTC) < opens + dt.timedelta(seconds=WINDOW_SECONDS)
        for site in sites:
            assert site.windows_opened() == [opens], site.name
            assert site.stored_next_window() == opens + dt.timedelta(days=1)
            site.stop(signal.SIGTERM)
            records = [r for log in site.logs for r in log_records(log)]
            assert not [r for r in records if r.get("level") == "error"], site.name
    finally:
        for site in sites:
            site.catalog.dispose()
