"""Fault injection for simulated cameras: what can go wrong, where it goes, and how it is done.

A fault is planned on a segment's *planned timeline*: frame k of a segment starting at S is shown
at S + k / cadence. `plan_faults` picks, per camera, which faults go into which segments (random but
reproducible from the seed; at most one fault per segment; in-file faults keep `margin` frames
clear of both segment edges, so two faults are always several seconds apart). The functions below
the planner are the damage itself, applied by the writer to pictures, timestamps, packets or bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import av
import av.logging
import numpy as np

from gapfill.errors import UserError

# fault (what is done) -> defect kind a detector should report
FAULT_KINDS: dict[str, str] = {
    "missing_segment": "missing",
    "dropped_frames": "missing",
    "corrupted_packets": "decode_error",
    "truncated": "missing",
    "frozen": "frozen",
    "black": "black",
    "green": "green",
    "blocky": "blocky",
    "timestamp": "timestamp",
}
VARIANTS: dict[str, tuple[str, ...]] = {
    "truncated": ("tail", "index"),  # tail GOPs cut off / index (moov) lost: unreadable file
    "timestamp": ("backwards", "repeat"),
}
# "all": every fault and every variant at least once per camera
ALL_INSTANCES: list[tuple[str, str | None]] = [
    (fault, variant) for fault in FAULT_KINDS for variant in VARIANTS.get(fault, (None,))
]
# "default": a realistic mix, network-style losses more common than picture damage
DEFAULT_WEIGHTS: dict[str, float] = {
    "missing_segment": 3,
    "dropped_frames": 3,
    "corrupted_packets": 2,
    "frozen": 2,
    "truncated": 1,
    "timestamp": 1,
    "black": 1,
    "green": 1,
    "blocky": 1,
}
DEFAULT_FAULTS_PER_SEGMENT = 0.25

GREEN_RGB = (0, 135, 0)  # what a decoder shows for Y=U=V=0 (BT.601 limited range)
MARGIN_SECONDS = 2.0  # in-file faults stay this far from segment edges


@dataclass
class PlannedFault:
    fault: str
    variant: str | None
    segment: int  # index of the segment in the camera's timeline
    frame_start: int  # planned-timeline frames, end exclusive
    frame_end: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return FAULT_KINDS[self.fault]

    @property
    def whole_segment(self) -> bool:
        return self.fault == "missing_segment" or (
            self.fault == "truncated" and self.variant == "index"
        )

    @property
    def reaches_segment_end(self) -> bool:
        return self.whole_segment or self.fault == "truncated"


def parse_fault_spec(spec: str) -> str | list[tuple[str, int]]:
    """ "default", "none", "all", or "black,frozen:3,..." -> list of (fault, count)."""
    spec = spec.strip()
    if spec in ("default", "none", "all"):
        return spec
    wanted: list[tuple[str, int]] = []
    for item in spec.split(","):
        name, _, count_text = item.strip().partition(":")
        if name not in FAULT_KINDS:
            known = ", ".join(FAULT_KINDS)
            raise UserError(
                f"--faults: unknown fault {name!r} (known: default, none, all, {known})"
            )
        try:
            count = int(count_text) if count_text else 1
        except ValueError:
            raise UserError(f"--faults: bad count in {item.strip()!r} (use name:N)") from None
        if count < 1:
            raise UserError(f"--faults: count must be at least 1 in {item.strip()!r}")
        wanted.append((name, count))
    return wanted


def plan_faults(
    rng: np.random.Generator,
    spec: str | list[tuple[str, int]],
    segment_frames: list[int],
    cadence: float,
    gop: int,
) -> list[PlannedFault]:
    """Place one camera's faults. segment_frames[j] = planned frame count of segment j."""
    instances = _fault_instances(rng, spec, len(segment_frames))
    if not instances:
        return []
    if len(instances) > len(segment_frames):
        raise UserError(
            f"--faults: {len(instances)} faults per camera need at least {len(instances)} "
            f"segments per camera, the recording has {len(segment_frames)} (raise --minutes)"
        )
    # Whole-segment faults have the fewest places to go: place them first.
    instances.sort(key=lambda item: 0 if _is_edge(*item) else 1)
    taken: dict[int, PlannedFault] = {}
    planned = []
    for fault, variant in instances:
        choices = [
            j
            for j in range(len(segment_frames))
            if _segment_fits(j, fault, variant, taken, segment_frames)
        ]
        if not choices:
            raise UserError(
                f"--faults: no room left for {fault} in {len(segment_frames)} segments "
                "(raise --minutes or ask for fewer faults)"
            )
        segment = int(rng.choice(choices))
        placed = _place_in_segment(
            rng, fault, variant, segment, segment_frames[segment], cadence, gop
        )
        taken[segment] = placed
        planned.append(placed)
    planned.sort(key=lambda p: p.segment)
    return planned


def _fault_instances(
    rng: np.random.Generator, spec: str | list[tuple[str, int]], segments: int
) -> list[tuple[str, str | None]]:
    if spec == "none":
        return []
    if spec == "all":
        rounds = max(1, segments // (2 * len(ALL_INSTANCES)))
        return list(ALL_INSTANCES) * rounds
    if spec == "default":
        names = list(DEFAULT_WEIGHTS)
        weights = np.array([DEFAULT_WEIGHTS[n] for n in names], dtype=np.float64)
        count = min(len(names), max(1, round(segments * DEFAULT_FAULTS_PER_SEGMENT)))
        chosen = rng.choice(len(names), size=count, replace=False, p=weights / weights.sum())
        return [(names[i], _pick_variant(rng, names[i])) for i in sorted(chosen)]
    assert isinstance(spec, list)
    instances = []
    for name, count in spec:
        variants = VARIANTS.get(name, (None,))
        offset = int(rng.integers(len(variants)))  # alternate variants, starting anywhere
        instances += [(name, variants[(offset + k) % len(variants)]) for k in range(count)]
    return instances


def _pick_variant(rng: np.random.Generator, fault: str) -> str | None:
    variants = VARIANTS.get(fault)
    return None if variants is None else variants[int(rng.integers(len(variants)))]


def _is_edge(fault: str, variant: str | None) -> bool:
    return PlannedFault(fault, variant, 0, 0, 0).reaches_segment_end


def _segment_fits(
    segment: int,
    fault: str,
    variant: str | None,
    taken: dict[int, PlannedFault],
    segment_frames: list[int],
) -> bool:
    if segment in taken:
        return False
    candidate = PlannedFault(fault, variant, segment, 0, 0)
    # A lost whole segment at either end of the recording is invisible to any detector.
    if candidate.whole_segment and segment in (0, len(segment_frames) - 1):
        return False
    # Spans must not touch across a segment boundary, or a detector would rightly merge them.
    before, after = taken.get(segment - 1), taken.get(segment + 1)
    if candidate.whole_segment and before is not None and before.reaches_segment_end:
        return False
    return not (candidate.reaches_segment_end and after is not None and after.whole_segment)


def _place_in_segment(
    rng: np.random.Generator,
    fault: str,
    variant: str | None,
    segment: int,
    frames: int,
    cadence: float,
    gop: int,
) -> PlannedFault:
    """Pick the frame range (and the fault's own parameters) inside one segment."""
    margin = min(math.ceil(MARGIN_SECONDS * cadence), frames // 5)
    low, high = margin, frames - margin  # the fault's frames must lie in [low, high)

    def run(min_s: float, max_s: float, min_frames: int = 1) -> tuple[int, int]:
        longest = high - low
        shortest = max(min_frames, math.ceil(min_s * cadence))
        if shortest > longest:
            raise UserError(
                f"--segment-seconds: segments of {frames} frames are too short for {fault} "
                f"({shortest} frames plus {margin} at each edge)"
            )
        length = int(
            rng.integers(shortest, max(shortest, min(longest, round(max_s * cadence))) + 1)
        )
        start = int(rng.integers(low, high - length + 1))
        return start, start + length

    params: dict[str, Any] = {}
    if fault == "missing_segment" or (fault == "truncated" and variant == "index"):
        start, end = 0, frames
        if fault == "truncated":
            params["cut_fraction"] = float(rng.uniform(0.3, 0.9))
    elif fault == "truncated":
        start = int(rng.integers(max(1, int(frames * 0.3)), max(2, int(frames * 0.8))))
        end = frames
        params["cut_fraction_of_frame"] = float(rng.uniform(0.2, 0.8))
    elif fault == "dropped_frames":
        start, end = run(0.0, 2.0, min_frames=3)
    elif fault == "corrupted_packets":
        # a P frame whose GOP ends (next keyframe) before the margin; damage runs to that keyframe
        firsts = [k for k in range(low, high) if k % gop and (k // gop + 1) * gop <= high]
        if not firsts:
            raise UserError(f"--segment-seconds: segments too short for {fault} with GOP {gop}")
        start = int(rng.choice(firsts))
        end = (start // gop + 1) * gop
        damaged = min(int(rng.integers(1, 3)), end - start)
        params["damaged_frames"] = list(range(start, start + damaged))
    elif fault == "frozen":
        start, end = run(2.0, 4.0)
        params["held_frame"] = start - 1  # the last live picture stays on screen
    elif fault == "black":
        start, end = run(1.0, 3.0)
    elif fault == "green":
        start, end = run(0.5, 2.0)
    elif fault == "blocky":
        start, end = run(1.0, 3.0)
        params["block"] = int(rng.choice([8, 16]))
    elif fault == "timestamp":
        start, end = run(0.0, 0.8, min_frames=3)
        if variant == "backwards":
            params["shift_frames"] = int(rng.integers(2, 6))  # clock steps back this far
    else:
        raise AssertionError(fault)
    return PlannedFault(fault, variant, segment, start, end, params)


# ---- the damage ----------------------------------------------------------------------------------


def black_picture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A dark sensor picture: near zero with a little noise. (H, W, 3) uint8."""
    noise = rng.normal(4.0, 1.5, size=(height, width, 1)).astype(np.float32)
    return np.repeat(np.clip(noise, 0, 255).astype(np.uint8), 3, axis=2)


def green_picture(height: int, width: int) -> np.ndarray:
    return np.broadcast_to(np.array(GREEN_RGB, dtype=np.uint8), (height, width, 3)).copy()


def blocky_picture(rgb: np.ndarray, block: int) -> np.ndarray:
    """Each block x block square replaced by its mean, as from a starved encoder."""
    import cv2

    height, width = rgb.shape[:2]
    small = cv2.resize(
        rgb, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def timestamp_shift(fault: PlannedFault, k: int) -> int:
    """How many frame durations frame k's PTS is moved back by a timestamp fault."""
    if not fault.frame_start <= k < fault.frame_end:
        return 0
    if fault.variant == "backwards":
        return int(fault.params["shift_frames"])
    return k - (fault.frame_start - 1)  # "repeat": every frame stamped like the one before the run


def damage_packet(packet: av.Packet, rng: np.random.Generator, keep_fraction: float) -> av.Packet:
    """The packet with its tail lost (as when RTP packets of a frame are dropped) and the last
    kept bytes scrambled. Timestamps, time base and flags are kept."""
    data = bytes(packet)
    keep = max(8, int(len(data) * keep_fraction))
    damaged = bytearray(data[:keep])
    scramble_from = max(8, keep - max(4, keep // 8))
    damaged[scramble_from:] = rng.integers(0, 256, keep - scramble_from, dtype=np.uint8).tobytes()
    out = av.Packet(bytes(damaged))
    out.pts = packet.pts
    out.dts = packet.dts
    out.time_base = packet.time_base
    out.is_keyframe = packet.is_keyframe
    return out


def decoder_reports_error(packets: list[av.Packet], extradata: bytes | None, index: int) -> bool:
    """Decode packets[0..index] with a fresh H.264 decoder; did packet `index` log an error?"""
    decoder = av.CodecContext.create("h264", "r")
    if extradata:
        decoder.extradata = extradata
    previous_level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        for position, packet in enumerate(packets[: index + 1]):
            with av.logging.Capture() as logs:
                try:
                    decoder.decode(packet)
                    failed = False
                except av.FFmpegError:
                    failed = True
            if position == index:
                return failed or any(level <= av.logging.ERROR for level, _, _ in logs)
        return False
    finally:
        av.logging.set_level(previous_level)
