"""A live site for the daemon's whole-process tests: a camera feed that plays a synthesized
recording into a watched directory in real time, and helpers to run `gapfill daemon` and read
what it did.

The feed is a process of its own (`python tests/live_site.py FEED STAGING ...`), as a recorder is:
it synthesizes the whole recording first with gapfill's simulator (faults and ground truth
included) into STAGING, then writes each segment into FEED over the segment's own duration, in
pieces, so the daemon meets files that are still growing (an MP4 without its index yet, or a
"faststart" one whose index came first and whose size has not settled). A segment the simulator
lost is never written; one it truncated is written as far as it goes, and then nothing more (the
recorder died). After the planned recording each camera writes one more clean segment, as a camera
that keeps recording does: without it a hole at the very end would be visible to nobody.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

GAPFILL = [sys.executable, "-m", "gapfill.cli"]
FEED_SCRIPT = Path(__file__)

# Every kind of fault the simulator makes, in the order a short recording gets them.
FAULT_ORDER = [
    "missing_segment",
    "truncated",
    "corrupted_packets",
    "frozen",
    "black",
    "green",
    "dropped_frames",
    "blocky",
    "timestamp",
]
# Small pictures keep encoding, scanning and the tiny model fast; detection does not depend on size.
WIDTH, HEIGHT = 160, 96


# --- processes and their output ---------------------------------------------------------------


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


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.5) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(poll)


def start_daemon(
    processes: list[subprocess.Popen[str]],
    log_path: Path,
    *options: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`gapfill daemon OPTIONS` with stdout and stderr appended to `log_path`. Its configuration
    comes from the GAPFILL_* environment the test set, or from `env` (the whole environment)."""
    with log_path.open("a") as log_file:  # the child keeps its own descriptor
        daemon = subprocess.Popen(
            [*GAPFILL, "daemon", *options],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    processes.append(daemon)
    return daemon


def log_records(log_path: Path) -> list[dict[str, Any]]:
    """The JSON log records of a daemon's output (other lines, e.g. tracebacks, are left out)."""
    records = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by SIGKILL
                records.append(json.loads(line))
    return records


def log_tail(log_path: Path, chars: int = 3000) -> str:
    return log_path.read_text()[-chars:] if log_path.exists() else "(no log)"


def child_pids(pid: int) -> list[int]:
    """The direct children of process `pid` (Linux /proc)."""
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# --- the camera feed ------------------------------------------------------------------------------


def camera_faults(camera: int, segments: int) -> str:
    """The faults of camera number `camera`: as many as a recording of `segments` segments holds
    with room to spare (a lost whole segment may not sit at either end or next to another hole),
    each camera taking the kinds after the previous camera's, so that two cameras of a short
    recording between them get every kind."""
    count = max(1, min(len(FAULT_ORDER), segments - 5))
    return ",".join(FAULT_ORDER[(camera * count + k) % len(FAULT_ORDER)] for k in range(count))


@dataclass(frozen=True)
class FeedPlan:
    """What the feed writes: the files (relative path -> bytes, from STAGING) in the order and at
    the offsets from the feed's start they are due, and the ground truth of the planned part."""

    writes: list[tuple[float, str, bytes, bool]]  # (due seconds, relative path, piece, last)
    truth_path: Path


def prepare_feed(
    staging: Path,
    cameras: int,
    minutes: float,
    seed: int,
    segment_seconds: float,
    pieces: int,
    start: dt.datetime,
) -> FeedPlan:
    """Synthesize the recording into `staging/rec` (plus one clean trailing segment per camera)
    and lay out the writes that play it back in real time."""
    import math

    from gapfill.synth.truth import GroundTruth, parse_iso_utc
    from gapfill.synth.writer import (
        GROUND_TRUTH_NAME,
        SegmentJob,
        segment_relative_path,
        synthesize,
        write_segment,
    )

    rec = staging / "rec"
    segments = math.ceil(minutes * 60 / segment_seconds - 1e-9)
    # The simulator gives every camera the same list of faults; camera c's own list comes from a
    # run of c + 1 cameras, of which only camera c is kept (same seed: the same scene and clock).
    parts = []
    for c in range(cameras):
        part = synthesize(
            staging / f"camera-{c}",
            cameras=c + 1,
            minutes=minutes,
            faults=camera_faults(c, segments),
            seed=seed,
            start=start,
            width=WIDTH,
            height=HEIGHT,
            segment_seconds=segment_seconds,
            workers=1,
        )
        name = part.cameras[c].name
        for segment in part.segments:
            if segment.camera == name:
                (rec / segment.path).parent.mkdir(parents=True, exist_ok=True)
                (staging / f"camera-{c}" / segment.path).rename(rec / segment.path)
        parts.append(part)
    truth = GroundTruth(
        seed=seed,
        args={
            **parts[0].args,
            "cameras": cameras,
            "faults": {p.cameras[c].name: camera_faults(c, segments) for c, p in enumerate(parts)},
        },
        cameras=[part.cameras[c] for c, part in enumerate(parts)],
        segments=[
            s for c, p in enumerate(parts) for s in p.segments if s.camera == p.cameras[c].name
        ],
        faults=[f for c, p in enumerate(parts) for f in p.faults if f.camera == p.cameras[c].name],
    )
    truth.save(rec / GROUND_TRUTH_NAME)
    files = {s.path: (parse_iso_utc(s.start) - start).total_seconds() for s in truth.segments}
    trailer_start = start + dt.timedelta(seconds=segments * segment_seconds)
    for index, camera in enumerate(truth.cameras):
        frames = round(segment_seconds * camera.cadence_fps)
        written, _ = write_segment(
            SegmentJob(
                out_dir=str(rec),
                seed=seed,
                camera_index=index,
                camera=camera,
                segment=segments,
                start=trailer_start,
                frames=frames,
                first_scene_frame=segments * frames,
                fault=None,
            )
        )
        assert written is not None and written.path == segment_relative_path(
            camera.name, trailer_start
        )
        files[written.path] = segments * segment_seconds

    writes = []
    for relative, offset in files.items():
        data = (rec / relative).read_bytes()
        size = math.ceil(len(data) / pieces)
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        for k, chunk in enumerate(chunks):
            # A recorder writes as the frames come: the last piece at the segment's end.
            due = offset + segment_seconds * (k + 1) / len(chunks)
            writes.append((due, relative, chunk, k == len(chunks) - 1))
    writes.sort(key=lambda w: (w[0], w[1]))
    return FeedPlan(writes, rec / GROUND_TRUTH_NAME)


def play(plan: FeedPlan, out: Path, log: IO[str]) -> None:
    """Append each piece to its file in `out` when it is due (relative to now)."""
    began = time.monotonic()
    for due, relative, chunk, last in plan.writes:
        delay = began + due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("ab") as handle:
            handle.write(chunk)
        if last:
            print(f"wrote {relative}", file=log, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Play a synthesized recording in real time.")
    parser.add_argument("feed", type=Path, help="the directory the daemon watches")
    parser.add_argument("staging", type=Path, help="where the recording is synthesized first")
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--segment-seconds", type=float, default=6.0)
    parser.add_argument("--pieces", type=int, default=4, help="writes per segment")
    args = parser.parse_args(argv)
    # The recording starts now, as a live camera's does (whole seconds: the layout names them).
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    plan = prepare_feed(
        args.staging,
        cameras=args.cameras,
        minutes=args.minutes,
        seed=args.seed,
        segment_seconds=args.segment_seconds,
        pieces=args.pieces,
        start=start,
    )
    print(f"ready {plan.truth_path}", flush=True)
    play(plan, args.feed, sys.stdout)
    print("done", flush=True)


def start_feed(
    processes: list[subprocess.Popen[str]],
    feed: Path,
    staging: Path,
    minutes: float,
    cameras: int = 2,
    seed: int = 7,
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(FEED_SCRIPT),
            str(feed),
            str(staging),
            "--cameras",
            str(cameras),
            "--minutes",
            str(minutes),
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    return process


# --- ground truth against the catalog ------------------------------------------------------------


def fault_matches(fault: Any, defect: dict[str, Any], frame_s: float) -> bool:
    """A detected defect accounts for an injected fault: same camera and kind, and their time
    spans overlap (one frame of slack: a hole is measured between the frames around it)."""
    from gapfill.synth.truth import parse_iso_utc

    if (fault.camera, fault.kind) != (defect["camera"], defect["kind"]):
        return False
    slack = dt.timedelta(seconds=frame_s)
    start, end = parse_iso_utc(fault.start), parse_iso_utc(fault.end)
    return defect["start"] < end + slack and start - slack < defect["end"]


def match_faults(
    truth: Any, defects: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """(faults no defect accounts for, defects no fault accounts for)."""
    frame_s = {c.name: 1.0 / c.cadence_fps for c in truth.cameras}
    missed = []
    used: set[int] = set()
    for fault in truth.faults:
        hits = [i for i, d in enumerate(defects) if fault_matches(fault, d, frame_s[fault.camera])]
        used.update(hits)
        if not hits:
            missed.append(f"{fault.id} {fault.fault} {fault.variant} {fault.start}-{fault.end}")
    return missed, [d for i, d in enumerate(defects) if i not in used]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
