"""Whole processes: workers stopped by SIGTERM and killed by SIGKILL, and the daemon end to end,
watching a directory while segments (some faulty, one written slowly) arrive, repairing them with
a tiny MALT checkpoint, then stopping cleanly on SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import func, select
from test_detect_clips import Faults, write_clip
from test_detect_scan import START, segment_path
from test_jobs import free_port, make_defects
from test_repair import invoke

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Defect, Recording, RepairJob, SyntheticClip
from gapfill.config import load_settings
from gapfill.jobs import queue
from gapfill.jobs.worker import Worker, WorkerOptions

GAPFILL = [sys.executable, "-m", "gapfill.cli"]

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


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed (by their own pid)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


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


def wait_for_line(stream: IO[str], prefix: str, timeout: float = 60) -> str:
    """The first line of `stream` starting with `prefix` (read in a thread, with a timeout)."""
    found: list[str] = []

    def read() -> None:
        for line in stream:
            if line.startswith(prefix):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"no line starting with {prefix!r} within {timeout} s"
    return found[0]


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


# --- the daemon, end to end ----------------------------------------------------------------------

# (faults, written slowly): segment 3 is never written (a gap), segment 5 arrives slowly.
PLAN: list[tuple[Faults | None, bool] | None] = [
    (None, False),
    (Faults(black=[(20, 30)]), False),
    (None, False),
    None,
    (Faults(green=[(25, 35)]), False),
    (Faults(black=[(30, 40)]), True),
    (None, False),
]


def generate(root: Path, scratch: Path, done: threading.Event) -> dict[str, int]:
    """Write the PLAN's segments into `root` one by one, as a recorder would: finished files
    appear by rename; the slow one grows in place over about three seconds (no index until its
    last bytes). Returns {path: final size}."""
    sizes = {}
    try:
        for j, step in enumerate(PLAN):
            if step is None:
                continue
            faults, slow = step
            final = segment_path(root, "press-01", START + dt.timedelta(seconds=6 * j))
            made = write_clip(scratch / f"{j}.mp4", 60, faults, seed=j)
            final.parent.mkdir(parents=True, exist_ok=True)
            if slow:
                data = made.read_bytes()
                chunk = len(data) // 6 + 1
                with final.open("wb") as handle:
                    for start in range(0, len(data), chunk):
                        handle.write(data[start : start + chunk])
                        handle.flush()
                        time.sleep(0.5)
            else:
                shutil.move(made, final.with_suffix(".mp4.tmp"))
                os.replace(final.with_suffix(".mp4.tmp"), final)
            sizes[str(final)] = final.stat().st_size
            time.sleep(0.7)
    finally:
        done.set()
    return sizes


def test_daemon_watches_repairs_and_stops_cleanly(
    tmp_path: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[str]],
) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    (tmp_path / "scratch").mkdir()
    port = free_port()
    for name, value in {
        "GAPFILL_MODEL_PATH": str(tiny_checkpoint),
        "GAPFILL_RECORDINGS_DIRS": json.dumps([str(root)]),
        "GAPFILL_SCAN_INTERVAL_SECONDS": "1",
        "GAPFILL_METRICS_PORT": str(port),
        "GAPFILL_SHUTDOWN_GRACE_SECONDS": "20",
        "GAPFILL_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    invoke("init")
    invoke("keys", "init")
    catalog = Catalog(load_settings().effective_database_url)
    log_file = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [
            *GAPFILL,
            "daemon",
            "--workers",
            "2",
            "--repair-now",
            "--settle-seconds",
            "0.5",
            "--poll-seconds",
            "0.2",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    processes.append(daemon)
    done = threading.Event()
    sizes: dict[str, int] = {}
    writer = threading.Thread(
        target=lambda: sizes.update(generate(root, tmp_path / "scratch", done)), daemon=True
    )
    writer.start()

    def settled() -> bool:
        with catalog.session() as session:
            recordings = session.scalar(
                select(func.count()).select_from(Recording).where(Recording.scanned_at.is_not(None))
            )
            live = session.scalar(
                select(func.count())
                .select_from(RepairJob)
                .where(RepairJob.state.in_(("queued", "running")))
            )
            open_defects = session.scalar(
                select(func.count()).select_from(Defect).where(Defect.state == "open")
            )
        return recordings == len(sizes) and live == 0 and open_defects == 0

    deadline = time.monotonic() + 80
    while not (done.is_set() and settled()):
        assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
        time.sleep(0.5)

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        health = json.loads(response.read())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        metrics = response.read().decode()

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0
    log_file.close()
    log = (tmp_path / "daemon.log").read_text()

    assert health["status"] == "ok" and health["workers_alive"] == 2
    with catalog.session() as session:
        recordings = session.scalars(select(Recording)).all()
        defects = session.scalars(select(Defect)).all()
        clips = session.scalars(select(SyntheticClip)).all()
        jobs = session.scalars(select(RepairJob)).all()
    catalog.dispose()
    # Every segment catalogued whole: the slow one was not taken while it was being written.
    assert {r.path: r.size_bytes for r in recordings} == sizes
    assert "unreadable" not in {r.status for r in recordings}
    # Every fault found and settled: repaired, or unrepairable with the reason.
    assert {d.kind for d in defects} >= {"black", "green", "missing"}
    for defect in defects:
        assert defect.state in ("repaired", "unrepairable"), (defect.kind, defect.state)
        if defect.state == "unrepairable":
            assert defect.state_reason
    repaired = [d.id for d in defects if d.state == "repaired"]
    assert repaired, "no defect repaired"
    assert sorted(c.defect_id for c in clips) == sorted(repaired)  # one clip each, no more
    assert all(Path(c.path).is_file() for c in clips)
    assert {j.state for j in jobs} == {"done"} and len({j.defect_id for j in jobs}) == len(jobs)
    assert f'gapfill_jobs{{state="done"}} {float(len(jobs))}' in metrics.splitlines()
    assert "gapfill_last_nightly_success_timestamp_seconds" in metrics
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    finished = [r for r in records if r.get("message") == "job finished"]
    assert len(finished) == len(jobs)
    assert all("job_id" in r and "defect_id" in r for r in finished)
    assert any(r.get("message") == "daemon stopped" for r in records)
    assert not [r for r in records if r.get("level") == "error"], [
        r for r in records if r.get("level") == "error"
    ][:3]
