"""Watch scale: the daemon's watch tick and memory on a large archive (issue 29, item 4).

For each size (--files, and --reference for the ratio) it builds, under --work:
- a Frigate-layout tree of that many segment files (empty placeholders, --cameras cameras,
  10-second segments, the newest in the current hour): real directory entries a walk would pay
  for;
- a SQLite catalog that already holds every one of them (bulk-inserted through
  gapfill.catalog.queries.watch.add_recordings_in_bulk), scanned.
Then, each in its own Python process so that its memory is its own:
1. "first start": watch ticks (watch_once, as the daemon's watch task runs it, events off: every
   live folder is listed) until the first reconcile of the older hours is through; the number of
   ticks it took and the longest tick;
2. "restart": a new process on the same catalog: steady ticks (median and max), a new segment
   (a real MP4) put into the live hour and the ticks until it is catalogued, the files under
   older hours opened (audit hook on `open`), and the peak RSS (VmHWM) of the process.

    .venv/bin/python benchmarks/watch_scale.py [--files 1000000] [--reference 100000]
        [--cameras 8] [--ticks 5] [--work DIR] [--keep]

Targets: a steady tick <= 1 s at --files, peak RSS at --files <= 1.1x at --reference, the new
segment catalogued within two ticks, no old file opened.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "watch_scale.txt"
SEGMENT_S = 10
PER_HOUR = 3600 // SEGMENT_S

# Runs in a fresh interpreter: argv = catalog url, root, phase ("first" or "restart"), ticks.
# Prints one JSON line of figures.
TICKS_SCRIPT = r"""
import datetime as dt, json, os, statistics, sys, time
from pathlib import Path

url, root, phase, ticks = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
opened_old = []
live_prefixes = ()

def audit(event, args):
    if event == "open" and args and isinstance(args[0], (str, os.PathLike)):
        path = os.fspath(args[0])
        if path.startswith(str(root)) and not path.startswith(live_prefixes):
            opened_old.append(path)

sys.addaudithook(audit)

from gapfill.catalog.db import Catalog
from gapfill.config import Settings
from gapfill.jobs.partitions import live_partitions
from gapfill.jobs.settle import StabilityTracker
from gapfill.jobs.watch import WatchState, watch_once

catalog = Catalog(url)
settings = Settings(database_url=url, recordings_dirs=[root], watch_events=False,
                    data_dir=root.parent / "data")
state = WatchState(StabilityTracker(5.0, 600.0), use_events=False)
live = live_partitions(dt.datetime.now(dt.UTC), dt.timedelta(seconds=settings.watch_margin_seconds))
live_prefixes = tuple(f"{p.folder(root)}{os.sep}" for p in live)

def tick():
    began = time.perf_counter()
    report = watch_once(catalog, settings, state)
    return time.perf_counter() - began, report

def peak_rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")

out = {}
if phase == "first":
    times, reconciled = [], 0
    while True:
        seconds, report = tick()
        times.append(seconds)
        reconciled += report.reconciled
        if not state.to_reconcile.get(root.absolute()):
            break
    out.update(ticks=len(times), max_tick_s=max(times), reconciled=reconciled)
else:
    times = [tick()[0] for _ in range(ticks)]
    out.update(median_tick_s=statistics.median(times), max_tick_s=max(times))
    segment = Path(os.environ["NEW_SEGMENT"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    target = root / f"{now:%Y-%m-%d}" / f"{now:%H}" / "cam-00" / f"{now:%M.%S}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(segment.read_bytes())
    done = time.time() - 10  # a segment the recorder finished 10 s ago
    os.utime(target, (done, done))
    needed = None
    for n in range(1, 4):
        seconds, report = tick()
        if report.ingested:
            needed = n
            break
    out.update(new_segment_ticks=needed, opened_old=len(opened_old))
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""


def write_segment(path: Path) -> Path:
    """A small real H.264 MP4 (2 s at 5 fps, 64x48): the new segment the live hour gets."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = np.full((48, 64, 3), i * 20, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def build(folder: Path, files: int, cameras: int) -> tuple[str, Path, float]:
    """The tree and its catalog; returns the catalog URL, the root and the seconds it took."""
    from gapfill.catalog.db import Catalog, upgrade
    from gapfill.catalog.models import Camera
    from gapfill.catalog.queries.watch import add_recordings_in_bulk

    began = time.perf_counter()
    root = folder / "recordings"
    url = f"sqlite:///{folder / 'catalog.sqlite3'}"
    upgrade(url)
    catalog = Catalog(url)
    with catalog.session() as session:
        ids = []
        for c in range(cameras):
            camera = Camera(name=f"cam-{c:02d}", nominal_fps=5.0)
            session.add(camera)
            session.flush()
            ids.append(camera.id)
    now = dt.datetime.now(dt.UTC)
    newest_hour = now.replace(minute=0, second=0, microsecond=0)
    scanned = now
    rows: list[dict[str, object]] = []
    made = 0
    hour = 0
    while made < files:
        start_of_hour = newest_hour - dt.timedelta(hours=hour)
        for c, camera_id in enumerate(ids):
            folder_path = (
                root / f"{start_of_hour:%Y-%m-%d}" / f"{start_of_hour:%H}" / f"cam-{c:02d}"
            )
            folder_path.mkdir(parents=True, exist_ok=True)
            for s in range(PER_HOUR):
                if made >= files:
                    break
                start = start_of_hour + dt.timedelta(seconds=s * SEGMENT_S)
                if start > now - dt.timedelta(seconds=60):
                    continue  # not written yet
                path = folder_path / f"{start:%M.%S}.mp4"
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                info = os.stat(path)
                rows.append(
                    {
                        "camera_id": camera_id,
                        "path": str(path),
                        "start_time": start,
                        "end_time": start + dt.timedelta(seconds=SEGMENT_S),
                        "duration_s": float(SEGMENT_S),
                        "frame_count": 50,
                        "fps": 5.0,
                        "size_bytes": info.st_size,
                        "mtime_ns": info.st_mtime_ns,
                        "sha256": "0" * 64,
                        "status": "ok",
                        "ingested_at": scanned,
                        "scanned_at": scanned,
                    }
                )
                made += 1
                if len(rows) >= 50_000:
                    with catalog.session() as session:
                        add_recordings_in_bulk(session, rows)
                    rows = []
        hour += 1
    with catalog.session() as session:
        add_recordings_in_bulk(session, rows)
    catalog.dispose()
    return url, root, time.perf_counter() - began


def run_phase(url: str, root: Path, phase: str, ticks: int, segment: Path) -> dict[str, float]:
    env = {**os.environ, "NEW_SEGMENT": str(segment), "GAPFILL_LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-c", TICKS_SCRIPT, url, str(root), phase, str(ticks)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{phase} process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(work: Path, files: int, cameras: int, ticks: int, segment: Path) -> dict[str, float]:
    folder = work / f"n{files}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url, root, build_s = build(folder, files, cameras)
    print(f"{files:>9} files: built in {build_s:.0f} s", flush=True)
    first = run_phase(url, root, "first", ticks, segment)
    restart = run_phase(url, root, "restart", ticks, segment)
    return {"files": files, "build_s": build_s, "first": first, "restart": restart}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="leave the trees and catalogs")
    args = parser.parse_args()
    if args.files < 1 or args.reference < 1 or args.cameras < 1 or args.ticks < 1:
        parser.error("--files, --reference, --cameras and --ticks must be at least 1")
    work = args.work or Path(tempfile.mkdtemp(prefix="watch_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    segment = write_segment(work / "new_segment.mp4")
    try:
        runs = [
            measure(work, n, args.cameras, args.ticks, segment)
            for n in (args.reference, args.files)
        ]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    command = "# .venv/bin/python benchmarks/watch_scale.py"
    given = []
    for name in ("files", "reference", "cameras", "ticks"):
        value = getattr(args, name)
        if value != parser.get_default(name):
            given.append(f"--{name} {value}")
    lines = [" ".join([command, *given])]
    lines.append(
        f"cpu cores: {os.cpu_count()}; SQLite catalog; {args.cameras} cameras, {SEGMENT_S} s "
        "segments; events off (every live folder listed)"
    )
    lines.append(
        "    files  build_s  first:ticks  first:max_s  steady:median_s  steady:max_s  "
        "new_segment_ticks  old_files_opened  peak_rss_mb"
    )
    for run in runs:
        first, restart = run["first"], run["restart"]
        lines.append(
            f"{run['files']:>9} {run['build_s']:>8.0f} {first['ticks']:>12} "
            f"{first['max_tick_s']:>12.3f} {restart['median_tick_s']:>16.3f} "
            f"{restart['max_tick_s']:>13.3f} {restart['new_segment_ticks']!s:>18} "
            f"{restart['opened_old']:>17} {restart['peak_rss_mb']:>12.1f}"
        )
    reference, large = runs
    rss_ratio = large["restart"]["peak_rss_mb"] / reference["restart"]["peak_rss_mb"]
    tick_ratio = large["restart"]["median_tick_s"] / reference["restart"]["median_tick_s"]
    lines.append(
        f"ratio {large['files']} / {reference['files']}: peak RSS {rss_ratio:.3f} (target <= 1.1), "
        f"steady tick {tick_ratio:.2f}"
    )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
