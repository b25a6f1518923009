"""Queue throughput: jobs claimed and completed per second by 1, 2, 4 ... worker processes sharing
one PostgreSQL repair queue (claim_next with SELECT ... FOR UPDATE SKIP LOCKED, then complete).

The payload is trivial (nothing between claim and complete), so this measures the queue itself:
round trips, row locks and commits. Each worker count gets a fresh database with --jobs queued
jobs; workers connect first and then start together, and the time runs from "go" to the last
completion (reported by the workers, on this machine's clock). The PostgreSQL server is a
throwaway one, started as tests/pgserver.py starts it for the test suite, and deleted at the end.

    .venv/bin/python benchmarks/queue_throughput.py [--jobs 500] [--workers 1,2,4]

Scaling is bounded by the cores free for the workers *and* the server: on a 2-core host the
ratios above 2 workers say more about the host than about the queue.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # reuse the test suite's throwaway server, not a copy of it

from pgserver import PostgresServer, find_bindir  # noqa: E402

# One worker: connect, wait for the go file, then claim -> complete until nothing is left.
# Prints the wall time of its last completion and how many jobs it did.
# argv: url, name, go file.
WORKER_SCRIPT = r"""
import sys, time
from pathlib import Path
from gapfill.catalog.db import Catalog
from gapfill.jobs import queue

url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
catalog = Catalog(url)
with catalog.session() as session:
    queue.counts_by_state(session)  # open the connection before the clock starts
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
done, last = 0, time.time()
while True:
    with catalog.session() as session:
        claim = queue.claim_next(session, name)
    if claim is None:
        break  # no lease ever expires here, so an empty claim means the queue is drained
    with catalog.session() as session:
        if queue.complete(session, claim):
            done += 1
    last = time.time()
catalog.dispose()
print("finished", done, last, flush=True)
"""


def prepare(server: PostgresServer, name: str, jobs: int) -> str:
    """A fresh database at the newest schema with `jobs` queued jobs; returns its URL."""
    import datetime as dt

    from gapfill.catalog.db import Catalog, upgrade
    from gapfill.catalog.models import Camera, Defect
    from gapfill.jobs import queue

    url = server.create_database(name)
    upgrade(url)
    catalog = Catalog(url)
    start = dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)
    try:
        with catalog.session() as session:
            camera = Camera(name="bench-01")
            session.add(camera)
            session.flush()
            defects = [
                Defect(
                    camera_id=camera.id,
                    kind="black",
                    detector="bench",
                    start_time=start + dt.timedelta(seconds=10 * i),
                    end_time=start + dt.timedelta(seconds=10 * i + 2),
                )
                for i in range(jobs)
            ]
            session.add_all(defects)
            session.flush()
            queue.enqueue(session, [d.id for d in defects])
    finally:
        catalog.dispose()
    return url


def run_worker_processes(
    script: str, argvs: list[list[str]], go: Path, timeout: float
) -> tuple[float, list[str]]:
    """Start one `python -c script ARGV...` per argv, wait until every one has printed "ready"
    (connected, imports done), then create the `go` file they wait for, so they start together.
    Returns (unix time of "go", each worker's whole stdout). A worker that fails or outlives
    `timeout` fails the run. Shared with site_simulation.py."""
    processes = [
        subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker failed to start")
        began = time.time()
        go.touch()
        outputs = []
        for process in processes:
            out, _ = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RuntimeError(f"a worker exited with {process.returncode}")
            outputs.append(out)
    finally:
        # Only our own workers, by pid, and only if something above went wrong.
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return began, outputs


def run_workers(url: str, workers: int, scratch: Path, timeout: float) -> tuple[float, int]:
    """Drain the queue at `url` with `workers` processes; returns (seconds, jobs completed)."""
    go = scratch / f"go-{workers}"
    argvs = [[url, f"bench{i}:{os.getpid()}", str(go)] for i in range(workers)]
    began, outputs = run_worker_processes(WORKER_SCRIPT, argvs, go, timeout)
    finished = []
    for out in outputs:
        _, done, last = out.split()[-3:]
        finished.append((int(done), float(last)))
    return max(last for _, last in finished) - began, sum(done for done, _ in finished)


def start_server() -> PostgresServer:
    """A throwaway PostgreSQL server, started as the test suite starts it; the caller stops it.
    Exits with what to install when the server programs are missing."""
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server programs not found (Debian package postgresql-15)")
    return PostgresServer(bindir).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="queued jobs per run (500)")
    parser.add_argument(
        "--workers", default="1,2,4", help="comma-separated worker process counts (1,2,4)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds one run may take before it is failed"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    server = start_server()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="queue-bench-") as scratch:
            for workers in counts:
                url = prepare(server, f"bench_{workers}_{os.getpid()}", args.jobs)
                seconds, done = run_workers(url, workers, Path(scratch), args.timeout)
                if done != args.jobs:
                    raise RuntimeError(f"{workers} workers completed {done} of {args.jobs} jobs")
                rows.append((workers, done, seconds, done / seconds))
    finally:
        server.stop()

    base = next((rate for workers, _, _, rate in rows if workers == 1), rows[0][3])
    print(f"cpu cores: {os.cpu_count()}")
    print(f"{'workers':>7} {'jobs':>6} {'seconds':>8} {'jobs/s':>8} {'ratio':>6}")
    for workers, done, seconds, rate in rows:
        print(f"{workers:>7} {done:>6} {seconds:>8.2f} {rate:>8.1f} {rate / base:>6.2f}")


if __name__ == "__main__":
    main()
