"""Write simulated camera recordings with injected faults, and their ground truth.

`synthesize(out_dir, ...)` writes, per camera, H.264 MP4 segments in a Frigate-like layout

    <out_dir>/<YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4      (UTC, the segment's start time)

and `<out_dir>/ground_truth.json`. Same arguments -> byte-identical files (x264 runs with one
thread; segments are independent, so the worker count does not change any byte).

Encoding: libx264, yuv420p, no B-frames, fixed GOP of `gop_seconds` (default 2 s, a common IP
camera I-frame interval: a 10 s segment holds 5 GOPs, every segment starts with a keyframe, and
damage from a corrupted packet spreads for at most 2 s), time base 1/90000, PTS of frame k of a
segment = round(k * 90000 / cadence), container tag creation_time = segment start.

Ground truth JSON (format "gapfill.synth.ground_truth", version 1; fields are stable):

    {
      "format": "gapfill.synth.ground_truth", "version": 1,
      "seed": 7,
      "args": {cameras, minutes, faults, seed, start, fps, width, height, segment_seconds,
               gop_seconds, cadence_fps, static},
      "cameras": [{"name": "press-01", "nominal_fps": 10.0, "cadence_fps": 10.0,
                   "width": 640, "height": 360, "gop_frames": 20, "scene_seed": ...}],
      "segments": [{"camera", "path", "start", "end", "planned_frames", "frames_encoded",
                    "bytes", "sha256"}],          # every file written, sorted by camera, start
      "faults": [{"id": "press-01/0", "camera", "fault", "kind", "variant", "start", "end",
                  "path", "frame_start", "frame_end", "details": {...}}]
    }

- Times are ISO-8601 UTC strings with microseconds and "Z". Paths are relative to out_dir.
- A segment's timeline: frame k of a segment starting at S is at S + k / cadence_fps;
  "end" = S + planned_frames / cadence_fps (exclusive). frame_start/frame_end (exclusive) of a
  fault are indices on that planned timeline (before frames were dropped), and start/end are
  their times. A missing segment has path null, frames [0, planned_frames), and
  details.expected_path.
- fault -> kind (what a detector should report), variant and details:
    missing_segment   -> missing       file never written
    dropped_frames    -> missing       frames [frame_start, frame_end) never encoded; others keep
                                       their PTS, so the timeline has a hole
    corrupted_packets -> decode_error  details.damaged_frames: packets cut short and scrambled
                                       (each checked to make the H.264 decoder log an error);
                                       the span runs to the next keyframe (damage propagates)
    truncated         -> missing       variant "tail": file (moov first) cut inside frame
                                       frame_start's data, frames from there to the end are lost;
                                       variant "index": moov-last file cut before its index,
                                       whole file unreadable. details.cut_at_byte, original_bytes
    frozen            -> frozen        frames [frame_start, frame_end) repeat the picture of
                                       frame_start - 1 exactly (details.held_frame); PTS advance
    black             -> black         near-black frames (mean ~4 grey levels, sensor noise)
    green             -> green         solid RGB (0, 135, 0) frames
    blocky            -> blocky        frames averaged over details.block x block squares
    timestamp         -> timestamp     variant "backwards": PTS of the run moved back by
                                       details.shift_frames frame durations; variant "repeat":
                                       every frame of the run carries the PTS of frame_start - 1.
                                       DTS stay increasing (offset by details.dts_offset_ticks,
                                       so the first PTS is still 0, as in a B-frame stream)
- Faults never overlap, at most one per segment; in-file spans keep 2 s from segment edges
  (a truncated tail and whole-segment faults reach them); spans never touch across segments.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np

from gapfill.errors import UserError
from gapfill.media.encode import DEFAULT_TIME_BASE, VideoWriter, atomic_write_bytes
from gapfill.synth.faults import (
    PlannedFault,
    black_picture,
    blocky_picture,
    damage_packet,
    decoder_reports_error,
    green_picture,
    parse_fault_spec,
    plan_faults,
    timestamp_shift,
)
from gapfill.synth.scene import Scene
from gapfill.synth.truth import CameraTruth, FaultTruth, GroundTruth, SegmentTruth, iso_utc

DEFAULT_START = datetime(2026, 1, 5, 6, 59, 0, tzinfo=UTC)  # 3 minutes cross 07:00
CAMERA_NAMES = (
    "press-01",
    "conveyor-02",
    "lathe-03",
    "welder-04",
    "packer-05",
    "mixer-06",
    "crane-07",
    "dock-08",
    "kiln-09",
    "robot-10",
)
GROUND_TRUTH_NAME = "ground_truth.json"
TICKS_PER_SECOND = DEFAULT_TIME_BASE.denominator  # time base 1/90000
CRF = 21  # ~0.5 Mbit/s at 640x360 10 fps, like a camera sub-stream; keeps the noise floor
PRESET = "veryfast"

# A week per camera already takes hours to encode, and an hour is longer than any recorder's
# segment: values past these are typos (or inf), which would otherwise hang or make no files.
MAX_MINUTES = 7 * 24 * 60
MAX_SEGMENT_SECONDS = 3600

ProgressCallback = Callable[[int, int], None]


def camera_name(index: int) -> str:
    return CAMERA_NAMES[index] if index < len(CAMERA_NAMES) else f"camera-{index + 1:02d}"


def segment_relative_path(camera: str, start: datetime) -> str:
    """Frigate layout: <YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4, in UTC."""
    start = start.astimezone(UTC)
    return f"{start:%Y-%m-%d}/{start:%H}/{camera}/{start:%M.%S}.mp4"


@dataclass(frozen=True)
class SegmentJob:
    """Everything one worker needs to write one segment (picklable)."""

    out_dir: str
    seed: int
    camera_index: int
    camera: CameraTruth
    segment: int
    start: datetime
    frames: int  # planned frames
    first_scene_frame: int  # the scene frame shown as this segment's frame 0
    fault: PlannedFault | None
    static: bool = False


def synthesize(
    out_dir: str | os.PathLike[str],
    cameras: int = 2,
    minutes: float = 3.0,
    faults: str = "default",
    seed: int = 7,
    start: datetime | None = None,
    fps: float = 10.0,
    width: int = 640,
    height: int = 360,
    segment_seconds: float = 10.0,
    gop_seconds: float = 2.0,
    cadence_fps: float | None = None,
    static: bool = False,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> GroundTruth:
    """Write `cameras` simulated cameras x `minutes` of segments with faults into out_dir.

    out_dir must be new or empty (an old file would contradict the new ground truth).
    cadence_fps: the frame rate the cameras really deliver (default: fps); timestamps follow it.
    static: scenes without moving parts (only light drift and sensor noise change).
    workers: processes encoding segments in parallel (default: up to 2); output is the same.
    """
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    cadence = fps if cadence_fps is None else cadence_fps
    _check_options(cameras, minutes, fps, cadence, width, height, segment_seconds, gop_seconds)
    if workers is not None and workers < 1:
        raise UserError(f"--workers: need at least 1, got {workers}")
    try:
        start = start.astimezone(UTC)
        start + timedelta(minutes=minutes)
    except OverflowError:
        raise UserError(
            f"--start/--minutes: a recording of {minutes} minutes from {start.isoformat()} "
            "does not fit in the years 1 to 9999 (UTC)"
        ) from None
    fault_spec = parse_fault_spec(faults)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not an empty directory (synth needs a fresh one)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a parent is a regular file, or not writable
        raise UserError(f"{out}: cannot create the directory: {exc.strerror or exc}") from None

    total_seconds = minutes * 60.0
    segment_count = math.ceil(total_seconds / segment_seconds - 1e-9)
    segment_frames = [
        math.ceil(min(segment_seconds, total_seconds - j * segment_seconds) * cadence - 1e-9)
        for j in range(segment_count)
    ]
    gop = max(1, round(gop_seconds * fps))

    camera_truths, jobs, planned_by_camera = [], [], []
    for c in range(cameras):
        scene_seed = int(np.random.SeedSequence([seed, c]).generate_state(1)[0])
        camera = CameraTruth(camera_name(c), fps, cadence, width, height, gop, scene_seed)
        camera_truths.append(camera)
        rng = np.random.default_rng([seed, 0xFA17, c])
        planned = {p.segment: p for p in plan_faults(rng, fault_spec, segment_frames, cadence, gop)}
        planned_by_camera.append(planned)
        for j, frames in enumerate(segment_frames):
            jobs.append(
                SegmentJob(
                    out_dir=str(out),
                    seed=seed,
                    camera_index=c,
                    camera=camera,
                    segment=j,
                    start=start + timedelta(seconds=j * segment_seconds),
                    frames=frames,
                    first_scene_frame=round(j * segment_seconds * cadence),
                    fault=planned.get(j),
                    static=static,
                )
            )

    results = _run_jobs(jobs, workers, progress)
    segments: list[SegmentTruth] = []
    fault_truths: list[FaultTruth] = []
    for job, (segment_truth, details) in zip(jobs, results, strict=True):
        if segment_truth is not None:
            segments.append(segment_truth)
        if job.fault is not None:
            number = sum(1 for f in fault_truths if f.camera == job.camera.name)
            fault_truths.append(_fault_truth(job, number, segment_truth, details))

    truth = GroundTruth(
        seed=seed,
        args={
            "cameras": cameras,
            "minutes": minutes,
            "faults": faults,
            "seed": seed,
            "start": iso_utc(start),
            "fps": fps,
            "width": width,
            "height": height,
            "segment_seconds": segment_seconds,
            "gop_seconds": gop_seconds,
            "cadence_fps": cadence_fps,
            "static": static,
        },
        cameras=camera_truths,
        segments=segments,
        faults=fault_truths,
    )
    truth.save(out / GROUND_TRUTH_NAME)
    return truth


def _check_options(
    cameras: int,
    minutes: float,
    fps: float,
    cadence: float,
    width: int,
    height: int,
    segment_seconds: float,
    gop_seconds: float,
) -> None:
    if cameras < 1:
        raise UserError(f"--cameras: need at least 1, got {cameras}")
    if not 0 < minutes <= MAX_MINUTES:
        raise UserError(f"--minutes: must be positive and at most {MAX_MINUTES}, got {minutes}")
    if not 1 <= fps <= 120:
        raise UserError(f"--fps: must be between 1 and 120, got {fps}")
    if not 0.5 * fps <= cadence <= fps:
        raise UserError(f"--cadence-fps: must be between fps/2 and fps ({fps}), got {cadence}")
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise UserError(f"--width/--height: need even sizes of at least 32, got {width}x{height}")
    if not 1 <= segment_seconds <= MAX_SEGMENT_SECONDS:
        raise UserError(
            f"--segment-seconds: must be between 1 and {MAX_SEGMENT_SECONDS}, got {segment_seconds}"
        )
    if not 1 / fps <= gop_seconds <= segment_seconds:
        raise UserError(f"gop_seconds: must be between one frame and a segment, got {gop_seconds}")


def _run_jobs(
    jobs: list[SegmentJob], workers: int | None, progress: ProgressCallback | None
) -> list[tuple[SegmentTruth | None, dict[str, Any]]]:
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    results: list[Any] = [None] * len(jobs)
    if workers == 1 or len(jobs) == 1:
        for i, job in enumerate(jobs):
            results[i] = write_segment(job)
            if progress:
                progress(i + 1, len(jobs))
        return results
    # forkserver: the parent may hold threads (torch, OpenMP) that fork would copy half-alive.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(write_segment, job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress:
                progress(done, len(jobs))
    return results


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # the pool is the parallelism; OpenCV's own threads would oversubscribe


@lru_cache(maxsize=4)
def _scene(seed: int, width: int, height: int, fps: float, motion: bool) -> Scene:
    return Scene(seed, width, height, fps, motion=motion)


def _pts(k: int, cadence: float) -> int:
    return round(k * TICKS_PER_SECOND / cadence)


def write_segment(job: SegmentJob) -> tuple[SegmentTruth | None, dict[str, Any]]:
    """Render, damage and encode one segment. Returns its truth (None if not written) and the
    fault's details."""
    camera, fault = job.camera, job.fault
    relative = segment_relative_path(camera.name, job.start)
    if fault is not None and fault.fault == "missing_segment":
        return None, {"expected_path": relative}
    path = Path(job.out_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([job.seed, 0xDA3A6E, job.camera_index, job.segment])

    scene = _scene(
        camera.scene_seed, camera.width, camera.height, camera.cadence_fps, not job.static
    )
    pictures = scene.render(job.first_scene_frame, job.frames)  # (n, H, W, 3)
    details: dict[str, Any] = dict(fault.params) if fault is not None else {}
    kept = list(range(job.frames))
    if fault is not None:
        kept = _damage_pictures(fault, pictures, rng)
        if fault.fault == "dropped_frames":
            details["dropped"] = fault.frame_end - fault.frame_start

    truncated = fault is not None and fault.fault == "truncated"
    target = path.with_name(f".{path.name}.full") if truncated else path
    writer = VideoWriter(
        target,
        width=camera.width,
        height=camera.height,
        fps=camera.nominal_fps,
        gop=camera.gop_frames,
        crf=CRF,
        preset=PRESET,
        metadata={"creation_time": iso_utc(job.start)},
        faststart=truncated and fault.variant == "tail",
    )
    with writer:
        packets = []
        for k in kept:
            packets += writer.encode(pictures[k], _pts(k, camera.cadence_fps))
        packets += writer.flush()
        if len(packets) != len(kept):
            raise RuntimeError(f"{path}: {len(kept)} frames gave {len(packets)} packets")
        if fault is not None and fault.fault == "corrupted_packets":
            extradata = writer.stream.codec_context.extradata
            details["kept_bytes"] = _corrupt(fault, packets, extradata, camera.gop_frames, rng)
        if fault is not None and fault.fault == "timestamp":
            details.update(_break_timestamps(fault, packets, camera.cadence_fps))
        for packet in packets:
            writer.mux(packet)

    if truncated:
        try:
            data = _truncate(fault, target, details)
            atomic_write_bytes(path, data)
        finally:
            target.unlink()
    else:
        data = path.read_bytes()
    segment = SegmentTruth(
        camera=camera.name,
        path=relative,
        start=iso_utc(job.start),
        end=iso_utc(job.start + timedelta(seconds=job.frames / camera.cadence_fps)),
        planned_frames=job.frames,
        frames_encoded=len(kept),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return segment, details


def _damage_pictures(
    fault: PlannedFault, pictures: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """Apply picture faults in place; returns the frame indices that reach the encoder."""
    span = range(fault.frame_start, fault.frame_end)
    height, width = pictures.shape[1:3]
    if fault.fault == "frozen":
        pictures[span.start : span.stop] = pictures[fault.params["held_frame"]]
    elif fault.fault == "black":
        for k in span:
            pictures[k] = black_picture(rng, height, width)
    elif fault.fault == "green":
        pictures[span.start : span.stop] = green_picture(height, width)
    elif fault.fault == "blocky":
        for k in span:
            pictures[k] = blocky_picture(pictures[k], fault.params["block"])
    elif fault.fault == "dropped_frames":
        return [k for k in range(len(pictures)) if k not in span]
    return list(range(len(pictures)))


def _corrupt(
    fault: PlannedFault,
    packets: list[av.Packet],
    extradata: bytes | None,
    gop: int,
    rng: np.random.Generator,
) -> list[int]:
    """Damage the planned frames' packets (one packet per frame here) so that the decoder
    reports an error on each; cut deeper on each retry. Returns the bytes kept per packet."""
    gop_start = (fault.frame_start // gop) * gop
    kept_bytes = []
    for k in fault.params["damaged_frames"]:
        original = packets[k]
        for attempt in range(12):
            keep_fraction = float(rng.uniform(0.3, 0.6)) * 0.75**attempt
            candidate = damage_packet(original, rng, keep_fraction)
            trial = [*packets[gop_start:k], candidate]
            if decoder_reports_error(trial, extradata, len(trial) - 1):
                packets[k] = candidate
                kept_bytes.append(candidate.size)
                break
        else:
            raise RuntimeError(
                f"frame {k}: no damage the H.264 decoder notices (packet size {original.size})"
            )
    return kept_bytes


def _break_timestamps(
    fault: PlannedFault, packets: list[av.Packet], cadence: float
) -> dict[str, Any]:
    """Rewrite PTS of the run backwards/duplicated; keep DTS strictly increasing (MP4 needs it) by
    starting them below zero, as a B-frame stream does. Frame k is packets[k] here."""
    shifted = [_pts(k - timestamp_shift(fault, k), cadence) for k in range(len(packets))]
    dts_offset = max(_pts(k, cadence) - pts for k, pts in enumerate(shifted))
    for k, packet in enumerate(packets):
        packet.dts = _pts(k, cadence) - dts_offset
        packet.pts = shifted[k]
    details: dict[str, Any] = {"dts_offset_ticks": dts_offset, "time_base": "1/90000"}
    if fault.variant == "repeat":
        details["repeated_pts_of_frame"] = fault.frame_start - 1
    return details


def _truncate(fault: PlannedFault, full_path: Path, details: dict[str, Any]) -> bytes:
    """The bytes of the cut file, per variant."""
    data = full_path.read_bytes()
    if fault.variant == "tail":
        with av.open(str(full_path)) as container:
            spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
        position, size = spans[fault.frame_start]
        cut = position + max(1, int(size * fault.params["cut_fraction_of_frame"]))
    else:
        index_at = data.rfind(b"moov") - 4  # the moov box (size field first) sits at the end
        if index_at <= 0:
            raise RuntimeError(f"{full_path}: no index (moov) at the end of the file")
        cut = int(index_at * fault.params["cut_fraction"])
    details.update({"cut_at_byte": cut, "original_bytes": len(data)})
    return data[:cut]


def _fault_truth(
    job: SegmentJob, number: int, segment: SegmentTruth | None, details: dict[str, Any]
) -> FaultTruth:
    fault = job.fault
    assert fault is not None
    cadence = job.camera.cadence_fps
    return FaultTruth(
        id=f"{job.camera.name}/{number}",
        camera=job.camera.name,
        fault=fault.fault,
        kind=fault.kind,
        variant=fault.variant,
        start=iso_utc(job.start + timedelta(seconds=fault.frame_start / cadence)),
        end=iso_utc(job.start + timedelta(seconds=fault.frame_end / cadence)),
        path=None if segment is None else segment.path,
        frame_start=fault.frame_start,
        frame_end=fault.frame_end,
        details=details,
    )
