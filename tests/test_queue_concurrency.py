"""The repair queue under real concurrency: several worker *processes*, each with its own database
connection, draining one PostgreSQL queue with `SELECT ... FOR UPDATE SKIP LOCKED`; and the same
with one worker SIGKILLed mid-job, whose job must be taken over after its lease expires.

Threads in one process (test_jobs.py) share the interpreter and can hide races that separate
processes expose, so here every worker is its own `python -c` process. The repair is a stand-in:
it records (job_id, pid) in a table this test creates, so the test can count who started and who
completed each job, independently of repair_jobs itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_site import wait_for_line
from pgserver import PostgresServer
from sqlalchemy import select, text
from test_jobs import make_defects

from gapfill.catalog.db import Catalog, upgrade
from gapfill.catalog.models import RepairJob
from gapfill.jobs import queue

pytestmark = pytest.mark.postgres

JOBS = 200
WORKERS = 4
# Every wait in this module ends by then at the latest, so a broken queue fails, never hangs.
TEST_BUDGET_SECONDS = 50.0

# One worker: waits for the go file (so all workers start together and really race), then loops
# claim -> stand-in repair -> complete until nothing is queued or running. Each transaction is
# committed on its own, as the real worker does, so the row lock lasts only for the claim.
# argv: url, name, lease s, pause s, go file, unix deadline, hold-at (claim number after which to
# announce "holding" and sleep until killed; 0 = never).
WORKER_SCRIPT = r"""
import datetime as dt, os, sys, time
from pathlib import Path
from sqlalchemy import text
from gapfill.catalog.db import Catalog
from gapfill.jobs import queue

url, name = sys.argv[1], sys.argv[2]
lease = dt.timedelta(seconds=float(sys.argv[3]))
pause, go = float(sys.argv[4]), Path(sys.argv[5])
deadline, hold_at = float(sys.argv[6]), int(sys.argv[7])
catalog = Catalog(url)
print("ready", flush=True)
while not go.exists():
    if time.time() > deadline:
        sys.exit("never told to go")
    time.sleep(0.01)
claims = 0
while time.time() < deadline:
    with catalog.session() as session:
        claim = queue.claim_next(session, name, lease=lease)
    if claim is None:
        with catalog.session() as session:
            counts = queue.counts_by_state(session)
        if counts["queued"] + counts["running"] == 0:
            break
        time.sleep(0.05)  # someone else's job is running (or its lease has yet to expire)
        continue
    claims += 1
    with catalog.session() as session:
        session.execute(
            text("INSERT INTO stand_in (job_id, pid, event) VALUES (:j, :p, 'start')"),
            {"j": claim.job_id, "p": os.getpid()},
        )
    if claims == hold_at:
        print("holding", claim.job_id, flush=True)
        time.sleep(3600)  # the test SIGKILLs us here: claimed, started, never completed
    time.sleep(pause)
    with catalog.session() as session:
        # The completion row commits with the state change, so it counts completions exactly.
        if queue.complete(session, claim):
            session.execute(
                text("INSERT INTO stand_in (job_id, pid, event) VALUES (:j, :p, 'done')"),
                {"j": claim.job_id, "p": os.getpid()},
            )
catalog.dispose()
print("finished", claims, flush=True)
"""

_databases = iter(range(1_000_000))


@pytest.fixture
def queued(pg_server: PostgresServer) -> Iterator[Catalog]:
    """A fresh PostgreSQL catalog with JOBS queued jobs and the stand-in's record table."""
    url = pg_server.create_database(f"concurrency_{os.getpid()}_{next(_databases)}")
    upgrade(url)
    catalog = Catalog(url)
    with catalog.session() as session:
        session.execute(
            # `at` uses the server clock, the same for every worker, to order starts across them.
            text(
                "CREATE TABLE stand_in (job_id integer NOT NULL, pid integer, event text,"
                " at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        )
    defect_ids = make_defects(catalog, JOBS)
    with catalog.session() as session:
        assert len(queue.enqueue(session, defect_ids)) == JOBS
    yield catalog
    catalog.dispose()


def start_workers(
    processes: list[subprocess.Popen[str]],
    catalog: Catalog,
    go: Path,
    deadline: float,
    lease: float,
    pause: float,
    hold_at: list[int],
) -> list[subprocess.Popen[str]]:
    """Start one worker per entry of `hold_at`, wait until each is connected, then let all go."""
    started = []
    for i, hold in enumerate(hold_at):
        args = [catalog.url, f"w{i}", str(lease), str(pause), str(go), str(deadline), str(hold)]
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        started.append(process)
    for process in started:
        assert process.stdout is not None
        wait_for_line(process.stdout, "ready", max(0.0, deadline - time.time()))
    go.touch()
    return started


def wait_all(started: list[subprocess.Popen[str]], deadline: float) -> None:
    """Wait for the workers to drain the queue and exit cleanly, no later than `deadline`."""
    for process in started:
        try:
            _, stderr = process.communicate(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pytest.fail("workers did not drain the queue before the deadline")
        assert process.returncode == 0, stderr


def records(catalog: Catalog) -> tuple[Counter[int], Counter[int], set[int]]:
    """(starts per job, completions per job, pids that completed something)."""
    with catalog.session() as session:
        rows = session.execute(text("SELECT job_id, pid, event FROM stand_in")).all()
    starts = Counter(job for job, _, event in rows if event == "start")
    dones = Counter(job for job, _, event in rows if event == "done")
    return starts, dones, {pid for _, pid, event in rows if event == "done"}


def test_four_worker_processes_run_every_job_exactly_once(
    queued: Catalog, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    deadline = time.time() + TEST_BUDGET_SECONDS
    # A short pause per job keeps all four workers in the race for the whole run.
    started = start_workers(
        processes, queued, tmp_path / "go", deadline, lease=30, pause=0.005, hold_at=[0] * WORKERS
    )
    wait_all(started, deadline)

    starts, dones, pids = records(queued)
    everything = set(range(1, JOBS + 1))
    assert set(starts) == everything and set(starts.values()) == {1}, "a job ran twice or never"
    assert set(dones) == everything and set(dones.values()) == {1}
    # More than one process did work: otherwise nothing was concurrent and the test proves little.
    assert len(pids) >= 2, pids
    with queued.session() as session:
        jobs = session.scalars(select(RepairJob)).all()
    assert {j.state for j in jobs} == {"done"} and {j.attempts for j in jobs} == {1}


def test_a_sigkilled_worker_s_job_is_reclaimed_and_completed_once(
    queued: Catalog, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    deadline = time.time() + TEST_BUDGET_SECONDS
    lease = 2.0  # short, so the survivors take the orphan over within seconds
    # Worker 0 holds its 5th claim; the others run normally.
    started = start_workers(
        processes,
        queued,
        tmp_path / "go",
        deadline,
        lease=lease,
        pause=0.005,
        hold_at=[5] + [0] * (WORKERS - 1),
    )
    victim = started[0]
    assert victim.stdout is not None
    holding = wait_for_line(victim.stdout, "holding", max(0.0, deadline - time.time()))
    orphan = int(holding.split()[1])
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    wait_all(started[1:], deadline)

    starts, dones, _ = records(queued)
    everything = set(range(1, JOBS + 1))
    assert set(dones) == everything and set(dones.values()) == {1}, "a job completed twice or never"
    # Only the orphan was started twice: once by the victim, once by whoever reclaimed it.
    assert starts[orphan] == 2
    assert {job for job, n in starts.items() if n != 1} == {orphan}
    with queued.session() as session:
        jobs = {j.id: j for j in session.scalars(select(RepairJob))}
    assert {j.state for j in jobs.values()} == {"done"}
    assert jobs[orphan].attempts == 2 and jobs[orphan].claimed_by != "w0"
    # Reclaimed only once its lease ran out, not earlier: the lease is what protects a live worker.
    with queued.session() as session:
        first, second = session.scalars(
            text("SELECT at FROM stand_in WHERE job_id = :j AND event = 'start' ORDER BY at"),
            {"j": orphan},
        ).all()
    assert (second - first).total_seconds() >= lease - 0.5, (first, second)
