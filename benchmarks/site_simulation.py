"""Site simulation: one night of a whole site's repairs through the real PostgreSQL repair queue.

A site of --cameras cameras records --hours a day each; a fraction --loss of that footage is lost
to defects, whose lengths follow what the synthetic-camera generator injects (gapfill.synth.faults,
its "default" mix). The night's defects go into a fresh catalog on a throwaway PostgreSQL server
(tests/pgserver.py, as benchmarks/queue_throughput.py starts it) and are queued with the queue's
own queue.enqueue, one camera per transaction. Then --workers worker processes claim and complete
jobs with the project's real queue code (claim_next / complete, each its own transaction, as the
real worker commits them), while the repair itself is a stand-in: it sleeps for the repair time,
which is the defect's footage seconds / --fill-speed (plus --job-overhead), divided by --compress.

Time. Each worker keeps its own simulated clock, seconds since the window opened. A repair
advances it by its full (uncompressed) length; a queue operation advances it by its measured wall
time, uncompressed too, because a real night pays the queue's round trips at full length (on this
host they are milliseconds: compressing them would turn 3 ms into a simulated second). The worker
then sleeps until the wall clock reaches go + simulated clock / compress, which keeps the workers
in step. When the queue cannot keep up with the compressed pace, a worker falls behind the wall
clock (reported as max lag): the run takes longer, the simulated figures stay right.
Workers claim only while their clock is inside the window; a job claimed before the window ends is
left to finish (gapfill.jobs.window), and counts as "overrun" when it ends after it. Nothing new
is queued during the night, so an empty claim ends a worker.

    .venv/bin/python benchmarks/site_simulation.py [--cameras 500] [--hours 24] [--loss 0.005]
        [--window-hours 6] [--workers 1,2,3,4] [--fill-speed S] [--gpu-speed S --gpu-workers 1,2]
        [--compress 360] [--out benchmarks/results/site_simulation.txt]
    .venv/bin/python benchmarks/site_simulation.py --write-doc    # = benchmarks/capacity_doc.py

--fill-speed defaults to the torch figure in benchmarks/results/fill_speed.txt (measured on CPU).
--gpu-speed is an ASSUMPTION until fill_speed.py runs on a GPU host: this project has never had one.

The results file is read back by benchmarks/capacity_doc.py, which turns it and the other files in
benchmarks/results/ into docs/capacity.md's generated section; `python benchmarks/capacity_doc.py`
is the canonical command for that, and --write-doc here only calls its write_doc.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
# queue_throughput (shared helpers) and the test suite's throwaway server, also when the tests
# import this module; appended, so that nothing already importable is shadowed.
sys.path += [p for p in (str(BENCHMARKS), str(ROOT / "tests")) if p not in sys.path]

from capacity_doc import DOC, RESULTS, Figure, read_fill_speed, write_doc  # noqa: E402
from pgserver import PostgresServer  # noqa: E402
from queue_throughput import run_worker_processes, start_server  # noqa: E402

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # the simulated day's recordings start here


# --- the night's load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DefectMix:
    """Defect lengths as the synthetic-camera generator injects them: its "default" fault mix
    (weights), each fault's lengths drawn by its own placement code on 10 s segments at 10 fps
    with a 2 s GOP (the generator's defaults)."""

    weights: dict[str, float]
    lengths: dict[str, list[float]]  # fault -> sampled lengths in seconds

    @property
    def mean_seconds(self) -> float:
        total = sum(self.weights.values())
        return sum(w * float(np.mean(self.lengths[f])) for f, w in self.weights.items()) / total


def synth_defect_mix(samples: int = 400, seed: int = 0) -> DefectMix:
    from gapfill.synth.faults import DEFAULT_WEIGHTS, plan_faults

    fps, segment_frames, gop = 10.0, 100, 20
    rng = np.random.default_rng(seed)
    lengths: dict[str, list[float]] = {}
    for fault in DEFAULT_WEIGHTS:
        # Five segments: a whole-segment fault is never put in the first or last one.
        placed = [
            plan_faults(rng, [(fault, 1)], [segment_frames] * 5, fps, gop)[0]
            for _ in range(samples)
        ]
        lengths[fault] = [(p.frame_end - p.frame_start) / fps for p in placed]
    return DefectMix(dict(DEFAULT_WEIGHTS), lengths)


@dataclass(frozen=True)
class NightDefect:
    camera: int
    kind: str  # defect kind (what a detector would report)
    start_s: float  # offset into the day
    seconds: float


def plan_night(
    cameras: int, hours: float, loss: float, mix: DefectMix, seed: int = 1
) -> list[NightDefect]:
    """The day's defects: per camera, lengths drawn from `mix` until they add up to exactly
    hours x 3600 x loss seconds (the last one cut to fit), spread evenly over the day."""
    from gapfill.synth.faults import FAULT_KINDS

    rng = np.random.default_rng(seed)
    faults = list(mix.weights)
    p = np.array([mix.weights[f] for f in faults]) / sum(mix.weights.values())
    budget = hours * 3600 * loss
    night = []
    for camera in range(cameras):
        drawn: list[tuple[str, float]] = []
        left = budget
        while left > 0.05:  # under half a frame at 10 fps: nothing left to lose
            fault = faults[rng.choice(len(faults), p=p)]
            seconds = min(float(rng.choice(mix.lengths[fault])), left)
            drawn.append((fault, seconds))
            left -= seconds
        slot = hours * 3600 / max(1, len(drawn))
        night += [
            NightDefect(camera, FAULT_KINDS[fault], i * slot, seconds)
            for i, (fault, seconds) in enumerate(drawn)
        ]
    return night


def prepare_night(server: PostgresServer, name: str, night: list[NightDefect]) -> tuple[str, float]:
    """A fresh catalog holding the night's defects, queued with queue.enqueue one camera at a
    time, each camera in its own transaction, as the watch task queues what each scan found.
    (One enqueue_open over a whole site's day, in one session, ran at about 25 jobs a second
    past 30,000 on this busy host, against hundreds a second for a small batch: not used here.)
    Returns (database name, seconds the enqueueing took)."""
    from sqlalchemy import insert, select

    from gapfill.catalog.db import Catalog, upgrade
    from gapfill.catalog.models import Camera, Defect
    from gapfill.jobs import queue

    url = server.create_database(name)
    upgrade(url)
    catalog = Catalog(url)
    try:
        with catalog.session() as session:
            count = 1 + max((d.camera for d in night), default=0)
            cameras = [Camera(name=f"site-{c:04d}") for c in range(count)]
            session.add_all(cameras)
            session.flush()
            camera_ids = [c.id for c in cameras]
            rows = [
                {
                    "camera_id": camera_ids[d.camera],
                    "kind": d.kind,
                    "detector": "site-simulation",
                    "start_time": DAY + dt.timedelta(seconds=d.start_s),
                    "end_time": DAY + dt.timedelta(seconds=d.start_s + d.seconds),
                }
                for d in night
            ]
            session.execute(insert(Defect), rows)
        began = time.perf_counter()
        for camera_id in camera_ids:
            with catalog.session() as session:
                defect_ids = session.scalars(
                    select(Defect.id)
                    .where(Defect.camera_id == camera_id, Defect.state == "open")
                    .order_by(Defect.start_time)
                ).all()
                queue.enqueue(session, list(defect_ids))
        enqueue_seconds = time.perf_counter() - began
    finally:
        catalog.dispose()
    return name, enqueue_seconds


def clone_database(server: PostgresServer, template: str, name: str) -> str:
    """A copy of `template` (PostgreSQL copies the files: seconds, however many jobs), so every
    worker count starts from the same queued night. Returns its URL."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=server.port, user=server.user, dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return server.url(name)


# --- the night itself -----------------------------------------------------------------------------

# One worker. argv: url, name, go file, window s, compress, fill speed, job overhead s.
# Prints "ready" once connected, waits for the go file, works the night, and prints one JSON line:
# its jobs as [job_id, footage s, claimed at, done at] (simulated seconds since the window
# opened), the wall seconds its queue operations took, and how far it fell behind the wall clock.
WORKER_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from sqlalchemy import select
from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Defect
from gapfill.jobs import queue

url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
window, compress, speed, overhead = (float(a) for a in sys.argv[4:8])
catalog = Catalog(url)
with catalog.session() as session:
    # Every defect's length, read before the clock starts: the stand-in repair needs nothing else,
    # and a query per job would load the queue with work the real claim does not do.
    footage = {
        i: (end - start).total_seconds()
        for i, start, end in session.execute(select(Defect.id, Defect.start_time, Defect.end_time))
    }
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
began = time.monotonic()
sim = queue_wall = lag = 0.0
jobs = []
while sim < window:
    t0 = time.monotonic()
    with catalog.session() as session:
        claim = queue.claim_next(session, name)
    spent = time.monotonic() - t0
    sim, queue_wall = sim + spent, queue_wall + spent
    if claim is None:
        break  # nothing is queued during the night: the queue is drained
    claimed_at = sim
    seconds = footage[claim.defect_id]
    sim += overhead + seconds / speed
    # The stand-in repair: sleep until the wall clock catches up with the simulated one.
    behind = time.monotonic() - (began + sim / compress)
    if behind < 0:
        time.sleep(-behind)
    lag = max(lag, behind)
    t0 = time.monotonic()
    with catalog.session() as session:
        done = queue.complete(session, claim)
    spent = time.monotonic() - t0
    sim, queue_wall = sim + spent, queue_wall + spent
    if not done:
        sys.exit(f"job {claim.job_id} was no longer ours")
    jobs.append([claim.job_id, seconds, claimed_at, sim])
catalog.dispose()
print(json.dumps({"jobs": jobs, "queue_wall": queue_wall, "lag": lag}), flush=True)
"""


@dataclass
class NightResult:
    workers: int
    speed: float
    window_s: float
    queued: int  # jobs in the queue when the window opened
    footage_s: float  # their footage seconds
    done_in_window: int  # finished by the window's end
    overrun: int  # claimed in the window, finished after it
    backlog: int  # never claimed: waits for the next night (the queue's own count)
    footage_done_s: float  # footage repaired by the window's end
    busy_s: float  # worker time spent on jobs inside the window, all workers together
    last_done_s: float  # simulated time of the last completion
    wall_s: float
    max_lag_s: float
    queue_ms_per_job: float  # wall time of claim + complete, per job
    completed: list[int] = field(default_factory=list)  # job ids, one entry per completion
    db_states: dict[str, int] = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        return self.busy_s / (self.workers * self.window_s)

    @property
    def fits(self) -> bool:
        return self.backlog == 0 and self.overrun == 0


def run_night(
    url: str,
    workers: int,
    speed: float,
    window_s: float,
    compress: float,
    overhead_s: float = 0.0,
    timeout: float = 900.0,
) -> NightResult:
    """Work the queued night at `url` with `workers` processes; see the module's docstring."""
    from gapfill.catalog.db import Catalog
    from gapfill.jobs import queue

    catalog = Catalog(url)
    try:
        with catalog.session() as session:
            before = queue.counts_by_state(session)
            footage_s = _queued_footage(session)
        with tempfile.TemporaryDirectory(prefix="site-sim-") as scratch:
            go = Path(scratch) / "go"
            argvs = [
                [
                    url,
                    f"sim{i}:{os.getpid()}",
                    str(go),
                    str(window_s),
                    str(compress),
                    str(speed),
                    str(overhead_s),
                ]
                for i in range(workers)
            ]
            began, outputs = run_worker_processes(WORKER_SCRIPT, argvs, go, timeout)
        wall = time.time() - began
        with catalog.session() as session:
            after = queue.counts_by_state(session)
    finally:
        catalog.dispose()
    reports = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    jobs = [job for report in reports for job in report["jobs"]]
    in_window = [job for job in jobs if job[3] <= window_s]
    return NightResult(
        workers=workers,
        speed=speed,
        window_s=window_s,
        queued=before["queued"],
        footage_s=footage_s,
        done_in_window=len(in_window),
        overrun=len(jobs) - len(in_window),
        backlog=after["queued"],
        footage_done_s=sum(job[1] for job in in_window),
        busy_s=sum(min(done, window_s) - claimed for _, _, claimed, done in jobs),
        last_done_s=max((job[3] for job in jobs), default=0.0),
        wall_s=wall,
        max_lag_s=max(report["lag"] for report in reports),
        queue_ms_per_job=1000 * sum(r["queue_wall"] for r in reports) / max(1, len(jobs)),
        completed=[job[0] for job in jobs],
        db_states=after,
    )


def _queued_footage(session: Session) -> float:
    from sqlalchemy import select

    from gapfill.catalog.models import Defect, RepairJob

    rows = session.execute(
        select(Defect.start_time, Defect.end_time)
        .join(RepairJob, RepairJob.defect_id == Defect.id)
        .where(RepairJob.state == "queued")
    )
    return sum((end - start).total_seconds() for start, end in rows)


# --- the results file ---------------------------------------------------------------------------

# benchmarks/capacity_doc.py (read_site_simulation, SimRow) parses these 13 columns back: change
# both together.
SIM_HEADER = (
    f"{'speed':<13} {'fill s/s':>8} {'workers':>7} {'queued':>7} {'done':>7} {'overrun':>7} "
    f"{'backlog':>7} {'filled s':>9} {'util':>6} {'fits':>4} {'wall s':>7} {'lag s':>6} "
    f"{'queue ms/job':>12}"
)


def format_row(label: str, r: NightResult) -> str:
    return (
        f"{label:<13} {r.speed:>8.2f} {r.workers:>7} {r.queued:>7} {r.done_in_window:>7} "
        f"{r.overrun:>7} {r.backlog:>7} {r.footage_done_s:>9.0f} {r.utilisation:>6.3f} "
        f"{'yes' if r.fits else 'no':>4} {r.wall_s:>7.1f} {r.max_lag_s:>6.1f} "
        f"{r.queue_ms_per_job:>12.2f}"
    )


# --- the command --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=500)
    parser.add_argument("--hours", type=float, default=24.0, help="recorded per camera per day")
    parser.add_argument("--loss", type=float, default=0.005, help="fraction lost to defects")
    parser.add_argument("--window-hours", type=float, default=6.0, help="nightly repair window")
    parser.add_argument("--workers", default="1,2,3,4", help="worker counts at --fill-speed")
    parser.add_argument(
        "--fill-speed",
        type=float,
        default=None,
        help="footage s per wall s per worker (default: fill_speed.txt, torch)",
    )
    parser.add_argument(
        "--gpu-speed",
        type=float,
        default=None,
        help="an ASSUMED GPU fill speed, also simulated when given",
    )
    parser.add_argument("--gpu-workers", default="1,2", help="worker counts at --gpu-speed")
    parser.add_argument(
        "--job-overhead",
        type=float,
        default=0.0,
        help="fixed seconds per job besides the fill (not measured: 0)",
    )
    parser.add_argument(
        "--compress",
        type=float,
        default=360.0,
        help="simulated seconds per wall second (360: 6 h in 1 min)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "site_simulation.txt")
    parser.add_argument(
        "--write-doc",
        action="store_true",
        help="only regenerate docs/capacity.md's tables (calls benchmarks/capacity_doc.py)",
    )
    args = parser.parse_args()
    if args.write_doc:
        write_doc()
        print(f"wrote {DOC}")
        return

    fill = Figure(args.fill_speed, "(--fill-speed)", 0) if args.fill_speed else read_fill_speed()
    runs = [("cpu-measured", fill.value, int(n)) for n in args.workers.split(",") if n]
    if args.gpu_speed:
        runs += [("gpu-ASSUMED", args.gpu_speed, int(n)) for n in args.gpu_workers.split(",") if n]
    mix = synth_defect_mix()
    night = plan_night(args.cameras, args.hours, args.loss, mix, args.seed)
    window_s = args.window_hours * 3600
    footage = sum(d.seconds for d in night)

    header = [
        # Line 1 of every results file is the command that made it (tests/test_benchmark_results).
        " ".join(
            ["# .venv/bin/python benchmarks/site_simulation.py", *map(shlex.quote, sys.argv[1:])]
        ),
        "Site simulation: one night through the real PostgreSQL repair queue "
        "(benchmarks/site_simulation.py)",
        f"cameras = {args.cameras}",
        f"hours = {args.hours:g}  (recorded per camera per day)",
        f"loss = {args.loss:g}  (fraction of footage lost to defects)",
        f"window_hours = {args.window_hours:g}",
        f"footage_to_fill_s = {footage:.0f}  (sum of the drawn defects)",
        f"mean_defect_s = {mix.mean_seconds:.2f}  (gapfill.synth.faults default mix, "
        f"weights {mix.weights})",
        f"defects = {len(night)}",
    ]
    server = start_server()
    rows: list[str] = []
    try:
        template, enqueue_s = prepare_night(server, f"night_{os.getpid()}", night)
        header.append(
            f"enqueue_s = {enqueue_s:.1f}  (queue.enqueue, one transaction per camera, once)"
        )
        header.append(
            f"cpu_speed = {fill.value:g}  (footage s per s per worker, "
            f"{fill.file} line {fill.line})"
        )
        if args.gpu_speed:
            header.append(
                f"gpu_speed_assumed = {args.gpu_speed:g}  (ASSUMPTION: never measured; this "
                "project has had no GPU host; replace with fill_speed.py run on one)"
            )
        header += [
            f"job_overhead_s = {args.job_overhead:g}  (fixed cost per job besides the fill; "
            "not measured)",
            f"compress = {args.compress:g}  (simulated s per wall s; queue operations "
            "uncompressed)",
            f"host_cores = {os.cpu_count()}  (shared with other work while this ran)",
            "columns: done = finished within the window; overrun = claimed in it, finished "
            "after; backlog = never claimed (waits for the next night); filled s = footage "
            "repaired within the window; util = worker time on jobs within the window / "
            "(workers x window); lag = most a worker fell behind the compressed wall clock; "
            "queue ms/job = wall time of claim + complete",
            "",
            SIM_HEADER,
        ]
        print("\n".join(header), flush=True)
        for i, (label, speed, workers) in enumerate(runs):
            url = clone_database(server, template, f"run_{i}_{os.getpid()}")
            result = run_night(url, workers, speed, window_s, args.compress, args.job_overhead)
            rows.append(format_row(label, result))
            print(rows[-1], flush=True)
            # Written after every run: a run that fails later keeps the ones before it.
            args.out.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
