"""How much happened around a defect: the repair queue's order and `repair_min_activity`.

Frigate counts, per recorded segment, what its detector saw in every detect frame
(frigate/record/maintainer.py, segment_stats): `motion` is the sum over the frames of the number
of motion boxes, `objects` the sum of the tracked objects that were moving (not stationary, not
false positives). Both are per-frame sums in the same unit, so they add up and divide by the
seconds of footage into a rate that does not depend on the segment length.

    rate     = (motion + OBJECT_WEIGHT * objects) / seconds     over the flanking recordings
    activity = rate / (rate + HALF_RATE)                         0 still ... 1 busy

- The flanking recordings are the camera's recording that starts at or before the defect (the
  one before a gap, or the damaged file itself) and the first one that starts at or after its
  end: what was going on just before and just after the lost footage, which is the best guess of
  what happened inside it. Only those carrying Frigate's counts take part, summed: two one-minute
  segments with 60 and 0 motion boxes are 0.5 boxes a second, not the mean of two rates.
- A moving tracked object (a person, a forklift, a part on the belt) weighs OBJECT_WEIGHT motion
  boxes: it is what the footage is kept for, while motion boxes also come from light, steam and
  vibration, so a few stray boxes must not outrank one object.
- rate / (rate + HALF_RATE) squeezes an unbounded rate into 0..1, so a `repair_min_activity`
  reads the same on every camera and every detect frame rate and "unknown" can sit exactly in
  the middle. 0.5 is one weighted box a second (HALF_RATE); a still night with a stray box a
  minute is about 0.02; a person walking through at 5 detect fps is above 0.95.
- Rounded to two decimals: what `gapfill jobs` and the review queue show is exactly what the
  queue ordered by and the threshold compared, and equal activities then go oldest first.

No flanking recording with Frigate's counts (a tree ingested by walking the folders, a camera
Frigate does not record): the activity is unknown (None). It is claimed as if it were
UNKNOWN_ACTIVITY, in the middle of the queue, and `repair_min_activity` never skips it: a gap
nobody measured is not a still one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OBJECT_WEIGHT = 10.0
HALF_RATE = 1.0  # weighted counts per second at which the activity is 0.5
UNKNOWN_ACTIVITY = 0.5  # where an unknown activity is claimed: the middle of the scale
MIN_SECONDS = 1.0  # an unreadable segment is catalogued with no duration: no division by zero


@dataclass(frozen=True)
class FlankCounts:
    """Frigate's counts on one flanking recording (None: not from Frigate) and its seconds."""

    motion: int | None
    objects: int | None
    seconds: float


def activity(flanks: Iterable[FlankCounts]) -> float | None:
    """0 (still) to 1 (busy) from the flanking recordings' Frigate counts; None when none has
    any."""
    known = [f for f in flanks if f.motion is not None or f.objects is not None]
    if not known:
        return None
    weighted = sum(max(f.motion or 0, 0) + OBJECT_WEIGHT * max(f.objects or 0, 0) for f in known)
    seconds = sum(max(f.seconds, MIN_SECONDS) for f in known)
    rate = weighted / seconds
    return round(rate / (rate + HALF_RATE), 2)


def claim_rank(value: float | None) -> float:
    """The job's place in the claim order, smaller first (repair_jobs.claim_rank)."""
    return round(1.0 - (UNKNOWN_ACTIVITY if value is None else value), 2)


def too_still(value: float | None, min_activity: float) -> bool:
    """True when a known activity is below the site's repair_min_activity (0: never)."""
    return value is not None and value < min_activity


def still_reason(value: float, min_activity: float) -> str:
    """The reason an ignored defect carries, in the words of the setting."""
    return f"activity {value:.2f} below repair_min_activity {min_activity:g}"


def shown(value: float | None) -> str:
    """An activity as people read it in tables."""
    return "unknown" if value is None else f"{value:.2f}"
