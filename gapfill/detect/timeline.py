"""Timeline detectors: what is missing between the frames of a file and between a camera's files.

Inside a file every decoded frame is placed on the camera's cadence grid: slot i is shown at
i x interval after the file's first frame, where interval is the file's own median frame step
(so a camera that really delivers 9.6 fps on a 10 fps setting is measured at 9.6, not judged
against 10). Frames whose timestamps go backwards or repeat (they claim a slot at or before one
already taken) are reported as `timestamp` defects; a step forward of more than gap_factor
intervals between in-order frames is a `missing` span with the exact count of missing slots.

Between files, each readable recording covers [start, end) of the camera's clock; a hole between
consecutive recordings longer than gap_factor intervals is a missing span. That also covers a file
that ends early (a truncated file's tail, up to the next segment's start) and unreadable files
(they cover nothing). Times are plain numbers here (POSIX seconds); the scan converts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np

from gapfill.catalog.timeline_names import RECORDING_GAP_DETECTOR
from gapfill.detect.features import FrameFeatures
from gapfill.detect.spans import Span, rounded, runs


@dataclass
class FileTimeline:
    """Where each decoded frame sits on the file's cadence grid."""

    interval: float  # seconds per frame slot
    origin: float  # stream time of slot 0 (the first in-order frame's time)
    slots: np.ndarray  # (N,) int64 slot of each decoded frame
    in_order: np.ndarray  # (N,) bool: the frame's timestamp is trustworthy

    @property
    def slot_count(self) -> int:
        """Slots from the first frame to one past the last: the file's length in frames."""
        return int(self.slots.max()) + 1 if len(self.slots) else 0

    def span(self, kind: str, detector: str, first: int, last: int, **figures: object) -> Span:
        """A span over decoded frames first..last (inclusive), in slots and seconds."""
        slot_start, slot_end = int(self.slots[first]), int(self.slots[last]) + 1
        return Span(
            kind=kind,
            start=rounded(slot_start * self.interval, 6),
            end=rounded(slot_end * self.interval, 6),
            frame_start=slot_start,
            frame_end=slot_end,
            detector=detector,
            figures=dict(figures),
        )


def median_interval(times: np.ndarray) -> float | None:
    """The typical frame step of increasing timestamps, or None with too few to tell."""
    steps = np.diff(times)
    steps = steps[steps > 0]
    if len(steps) < 2:
        return None
    return float(np.median(steps))


def place_frames(features: FrameFeatures, interval_hint: float | None) -> FileTimeline:
    """Put each decoded frame on the cadence grid, walking the frames in the order they decode.

    Each frame should take the next slot. A frame whose timestamp claims a later slot is in order
    and the slots it skipped are missing; a frame whose timestamp claims an earlier or the same
    slot (the clock stepped back or stuck) has an untrustworthy timestamp: it takes the next slot
    anyway, because that is where it was decoded. So a clock that steps back by s frames for a run
    marks exactly that run, and the frames after it, back on the true clock, are in order again.
    """
    n = len(features)
    times = features.time
    steps = np.diff(times)
    positive = steps[steps > 0]
    interval = float(np.median(positive)) if len(positive) >= 2 else (interval_hint or 0.1)
    origin = float(times[0]) if n else 0.0
    claimed = np.rint((times - origin) / interval).astype(np.int64)
    slots = np.zeros(n, np.int64)
    in_order = np.ones(n, bool)
    expected = 0
    for i, slot in enumerate(claimed.tolist()):
        if slot >= expected:
            slots[i] = slot
        else:
            slots[i] = expected
            in_order[i] = False
        expected = int(slots[i]) + 1
    return FileTimeline(interval=interval, origin=origin, slots=slots, in_order=in_order)


def detect_file_gaps(timeline: FileTimeline, times: np.ndarray, gap_factor: float) -> list[Span]:
    """Missing slots between in-order frames (frames dropped inside the file).

    Between two consecutive in-order frames, the frames with broken timestamps decoded in between
    fill the first slots; what is left over, if the timestamps step by more than gap_factor
    intervals per frame, is missing."""
    spans: list[Span] = []
    order = np.flatnonzero(timeline.in_order)
    for i, j in zip(order[:-1].tolist(), order[1:].tolist(), strict=True):
        between = j - i - 1
        first_missing = int(timeline.slots[i]) + 1 + between
        next_present = int(timeline.slots[j])
        step = float(times[j] - times[i]) / (between + 1)
        if next_present <= first_missing or step <= gap_factor * timeline.interval:
            continue
        spans.append(
            Span(
                kind="missing",
                start=rounded(first_missing * timeline.interval, 6),
                end=rounded(next_present * timeline.interval, 6),
                frame_start=first_missing,
                frame_end=next_present,
                detector="timeline.pts_gap",
                figures={
                    "missing_frames": next_present - first_missing,
                    "interval_s": rounded(timeline.interval, 6),
                    "gap_factor": gap_factor,
                },
            )
        )
    return spans


def detect_timestamp_errors(features: FrameFeatures, timeline: FileTimeline) -> list[Span]:
    """Runs of frames whose timestamps go backwards or repeat."""
    spans = []
    for a, b in runs(~timeline.in_order):
        repeated = int(np.isin(features.pts[a:b], features.pts[timeline.in_order]).sum())
        spans.append(
            timeline.span(
                "timestamp",
                "timeline.pts_order",
                a,
                b - 1,
                frames=b - a,
                repeated_pts=repeated,
                backwards=b - a - repeated,
            )
        )
    return spans


@dataclass(frozen=True)
class Coverage:
    """The part of a camera's clock one recording covers (POSIX seconds)."""

    recording_id: int | None
    start: float
    end: float
    readable: bool


def recording_coverage(rows: list[tuple[int, dt.datetime, dt.datetime, str]]) -> list[Coverage]:
    """Coverage of the catalog's (id, start, end, status) rows; an unreadable one is no cover."""
    return [
        Coverage(rid, start.timestamp(), end.timestamp(), status != "unreadable")
        for rid, start, end, status in rows
    ]


def detect_recording_gaps(
    recordings: list[Coverage], interval: float, gap_factor: float
) -> list[tuple[Span, int | None]]:
    """Holes between a camera's recordings, as (span, recording id to attach or None).

    An unreadable recording covers nothing; the hole it leaves is attached to it, so the defect
    names the file that should have held the footage.
    """
    ordered = sorted(recordings, key=lambda r: (r.start, r.end))
    readable = [r for r in ordered if r.readable]
    holes: list[tuple[Span, int | None]] = []
    tolerance = gap_factor * interval
    for before, after in itertools.pairwise(readable):
        hole_start, hole_end = before.end, after.start
        # Overlapping files (a recorder restart that re-wrote a second) hide no hole.
        if hole_end - hole_start <= tolerance:
            continue
        culprit = next(
            (
                r.recording_id
                for r in ordered
                if not r.readable and hole_start <= r.start < hole_end
            ),
            None,
        )
        figures = {
            "missing_s": rounded(hole_end - hole_start, 3),
            "missing_frames": round((hole_end - hole_start) / interval),
            "interval_s": rounded(interval, 6),
            "after_recording": before.recording_id,
            "before_recording": after.recording_id,
        }
        span = Span("missing", hole_start, hole_end, None, None, RECORDING_GAP_DETECTOR, figures)
        holes.append((span, culprit))
    return holes
