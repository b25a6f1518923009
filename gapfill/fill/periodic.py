"""The periodic layer: what repeats in place on a fixed camera, continued through a gap.

A flywheel's spokes, a blinking lamp, a press stroke, a belt's slats: at a fixed pixel they repeat
every P frames. The right picture for hole frame k (time T = k + 1 frames after before[-1]) is then
a real frame at the same phase: T - m·P before the gap or T + m·P after it. No warp, no blur of a
median: real pixels, at the right moment of the cycle, which is what a plate or a flow
interpolation between the two end frames cannot give (the wheel blurs into a star, the lamp stays
half-lit).

How, per gap (the analysis runs on luma at ANALYSIS_SIDE, the rendering on the real frames at
their own size):
1. Lag profile: D_L(x) = mean over the context of |Y_t(x) - Y_(t-L)(x)|, for L = 1..MAX_PERIOD,
   box-filtered. Sensor noise alone gives the floor D_1 of a still pixel (the image's median).
2. A pixel is periodic when it moves (its largest D_L rises MOVING_EXCESS over the floor) and
   some lag brings it back near the floor (excess at most PERIODIC_RATIO of the largest).
   Connected periodic pixels form regions. A region may hold parts that repeat at different
   rates (a lamp touching a wheel's rim): its pixels are grouped by their own first return lag,
   and each group proposes a period, the first dip of its mean profile, refined to a fraction
   of a frame with a parabola. A cycle that comes back only at the longest lag measured (a
   slow wheel's spokes, 24 frames with 32 real frames a side) is proposed too, and marked: it
   was seen once, and boxes on a belt passing a spot at that interval by chance look the
   same; MotionGuess keeps such a region only where the rotation layer finds a wheel in it.
3. Each proposed period is then measured across the gap, where the answer must land (a period
   that is 1 % off drifts by half a cycle over 64 frames): the candidate near it that best
   predicts the first real frames after the gap from those before it, and the last before from
   those after, wins. Each pixel of the region takes the period that predicts it best there.
4. Each pixel of a region is painted as far as that cross-gap prediction beats the median plate
   there (`weight`): a box riding over a periodic belt, or a person walking past a lamp, is not
   periodic, fails the check, and leaves those pixels to the other layers of the guess.
Rendering a hole frame reads the nearer side (fewer cycles to carry the phase across) and blends
the two real frames around the fractional source time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from gapfill.fill.metrics import luma

# Analysis size (longest side): the periods of a wheel or a lamp show at 320 px as well as at
# 1920, and the lag profile costs MAX_PERIOD passes over the context.
ANALYSIS_SIDE = 320
CONTEXT_FRAMES = 64  # real frames read on each side at most
MIN_PERIOD, MAX_PERIOD = 2, 40  # frames
MIN_PAIRS = 8  # frame pairs that measure one lag of the profile
PROFILE_BOX = 5  # px at analysis size: the lag profile is pooled over this box
# Grey levels over the noise floor (luma): a pixel whose largest lag difference rises less than
# MOVING_EXCESS above it is still (the plate has it); one that returns to within PERIODIC_RATIO of
# that rise at some lag repeats. Set from the simulated cameras' noise (sigma 2.5-3.5), by hand.
MOVING_EXCESS = 8.0
PERIODIC_RATIO = 0.3
RISEN_SHARE = 0.6
MIN_REGION_PIXELS = 6  # at analysis size: a lamp of radius 5 px at 360 lines is ~20 px
# Cross-gap refinement: periods within +-REFINE_SPAN of the profile's estimate, REFINE_STEPS of
# them, judged on up to VALIDATION_FRAMES real frames each side of the gap. 16 rather than 8:
# a lamp lit for a third of a 22-frame cycle can stay dark through 8 frames on both sides, and
# then the check sees no gain over the plate and the lamp is never painted (held-out seed
# 2000001, hole at frame 192).
REFINE_SPAN, REFINE_STEPS = 0.04, 81
VALIDATION_FRAMES = 16
# A region's pixels are grouped by their own period (_period_parts), up to MAX_PERIOD_PARTS
# groups; a group's period within PERIOD_TOLERANCE of one already tried is not tried again.
# Set once, not tuned.
MAX_PERIOD_PARTS, PERIOD_TOLERANCE = 3, 0.05
# A pixel is painted as far as the period explains the real frames across the gap better than the
# median plate does: not at all below GAIN_LOW grey levels of mean error saved, wholly above
# GAIN_HIGH (a box riding over a belt, a person past a lamp: no gain, left to the other layers).
GAIN_LOW, GAIN_HIGH = 1.0, 4.0
FEATHER_SIGMA = 1.0  # px at analysis size: soft region edges


@dataclass
class Region:
    """One periodic region: its period, bounding box at source size and per-pixel weight there."""

    period: float  # frames
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 at source size
    weight: np.ndarray  # (y1-y0, x1-x0, 1) float32 in [0, 1]
    # Its cycle showed only at the longest lag the context measures (_profile_period): once, with
    # few frame pairs. A slow wheel's spokes look like that, and so do boxes on a belt that
    # happen to pass a spot at that interval; such a region is kept only as a wheel
    # (MotionGuess asks the rotation layer). Guess PSNR at 16 / 64 frames
    # (benchmarks/guess_holes.py): held-out seeds 2000000-2000003 28.82 / 32.69 -> 29.03 / 33.16
    # dB (seed 2000003's flywheel, +2 to +3.5 dB a hole); training seeds 11-16 34.89 / 34.08 ->
    # 35.04 / 34.16. Kept whether a wheel or not, the training seeds with people lost up to 0.7
    # dB on holes where boxes were painted in.
    at_limit: bool = False


class PeriodicLayer:
    """Paints the periodic regions of hole frames from real frames at the same phase.

    before, after: uint8 (T,H,W,3) real frames around the hole (either may be empty, not both);
    n_missing: the hole's length. Analysis runs once here; `paint` is cheap per frame.
    """

    def __init__(self, before: np.ndarray, after: np.ndarray, n_missing: int) -> None:
        self.before = before[-CONTEXT_FRAMES:]
        self.after = after[:CONTEXT_FRAMES]
        self.n_missing = int(n_missing)
        self.regions: list[Region] = []
        sides = [f for f in (self.before, self.after) if len(f)]
        if not sides or max(len(f) for f in sides) < MIN_PAIRS + MIN_PERIOD + 1:
            return
        height, width = sides[0].shape[1:3]
        scale = min(1.0, ANALYSIS_SIDE / max(height, width))
        small = (max(8, round(width * scale)), max(8, round(height * scale)))
        y_before = _small_luma(self.before, small)
        y_after = _small_luma(self.after, small)
        # The longer side shows more cycles: its lag profile finds the regions.
        longest = y_before if len(y_before) >= len(y_after) else y_after
        profile, floor = _lag_profile(longest)
        excess = profile - floor
        rise = excess.max(axis=0)
        returns = _returns(excess, rise)
        labels, count = _periodic_regions(rise, returns)
        first_returns = _first_returns(returns)
        plate_error = self._plate_error(y_before, y_after)
        grow = np.ones((3, 3), np.uint8)  # one pixel round a region: its anti-aliased rim
        for label in range(1, count + 1):
            inside = labels == label
            # A region may hold parts with different periods (a lamp next to a wheel's rim):
            # each candidate period is checked across the gap, and each pixel takes the one
            # that predicts it best there.
            proposals = []
            for part in _period_parts(inside, first_returns):
                period = _profile_period(profile[:, part].mean(axis=1), floor)
                if period is not None:
                    proposals.append((period, part))
            candidates = []  # (period, per-pixel error across the gap, at the longest lag)
            # Periods seen before the longest lag first: they are better measured.
            for period, part in sorted(proposals, key=lambda p: p[0] >= len(profile)):
                at_limit = period >= len(profile)
                if at_limit and _multiple(period, [p for p, _ in proposals]):
                    continue  # a whole number of another part's cycles: that part's cycle
                if all(abs(period - other) > PERIOD_TOLERANCE * other for other, *_ in candidates):
                    refined = self._refine(period, y_before, y_after, inside, part)
                    candidates.append((*refined, at_limit))
            if not candidates:
                continue
            best = np.argmin([error for _, error, _ in candidates], axis=0)
            for c, (period, error, at_limit) in enumerate(candidates):
                gain = plate_error - error if plate_error is not None else MOVING_EXCESS - error
                weight = np.clip((gain - GAIN_LOW) / (GAIN_HIGH - GAIN_LOW), 0, 1)
                weight *= cv2.dilate((inside & (best == c)).astype(np.uint8), grow)
                weight = cv2.GaussianBlur(weight, (0, 0), FEATHER_SIGMA)
                region = _to_source(weight, (height, width), period, at_limit)
                if region is not None:
                    self.regions.append(region)

    def _plate_error(self, y_before: np.ndarray, y_after: np.ndarray) -> np.ndarray | None:
        """Per pixel, how far the real frames just across the gap are from the median plate."""
        checks = [f[:VALIDATION_FRAMES] for f in (y_after, y_before[::-1]) if len(f)]
        if len(checks) < 2:
            return None
        plate = np.median(np.concatenate([y_before, y_after]), axis=0)
        error = np.mean([np.abs(frame - plate) for side in checks for frame in side], axis=0)
        return cv2.blur(error.astype(np.float32), (PROFILE_BOX, PROFILE_BOX))

    # -- where the phase comes from ------------------------------------------------------------
    def source_time(self, time: float, period: float, side: str) -> float | None:
        """The fractional real-frame time at the phase of `time`, on `side`, or None.

        Times count frames from before[-1] (0; before[-1-j] is -j) to after[0] (n_missing + 1).
        Of the first three whole cycles that land in that side's context, the one nearest a
        whole frame is taken: less blending of two frames, less blur.
        """
        n_before, n_after, gap_end = len(self.before), len(self.after), self.n_missing + 1
        best = None
        first_cycle = (
            math.ceil(time / period) if side == "before" else math.ceil((gap_end - time) / period)
        )
        for cycles in range(max(first_cycle, 1), max(first_cycle, 1) + 3):
            if side == "before":
                source = time - cycles * period
                if source < -(n_before - 1):
                    break
            else:
                source = time + cycles * period
                if source > gap_end + n_after - 1:
                    break
            off_grid = abs(source - round(source))
            if best is None or off_grid < best[0] - 0.05:
                best = (off_grid, source)
        return None if best is None else best[1]

    def _refine(
        self,
        period: float,
        y_before: np.ndarray,
        y_after: np.ndarray,
        inside: np.ndarray,
        judged: np.ndarray,
    ) -> tuple[float, np.ndarray]:
        """The period near `period` that predicts the other side of the gap best on the pixels
        `judged`, and its per-pixel error over the whole region `inside` (judged is part of it).
        Outside the region's box and margin the error is 255: no gain."""
        checks = []  # (time, true luma, side to predict from)
        gap_end = self.n_missing + 1
        for j in range(min(VALIDATION_FRAMES, len(y_after))):
            if len(y_before):
                checks.append((gap_end + j, y_after[j], "before"))
        for j in range(min(VALIDATION_FRAMES, len(y_before))):
            if len(y_after):
                checks.append((-j, y_before[-1 - j], "after"))
        if not checks:
            # One-sided context: nothing to check against; trust the profile, and each part's
            # own period on its pixels (1 grey level: the region's other pixels prefer theirs).
            return period, np.where(judged, 0.0, 1.0).astype(np.float32)
        # Only the region and a margin are compared: its weight reaches one pixel past it
        # (the rim) and the error there is pooled over PROFILE_BOX, so the margin makes the
        # result the same as over the whole picture, at the cost of the region's size.
        ys, xs = np.nonzero(inside)
        margin = 1 + PROFILE_BOX // 2
        crop = (
            slice(max(ys.min() - margin, 0), ys.max() + margin + 1),
            slice(max(xs.min() - margin, 0), xs.max() + margin + 1),
        )
        frames = {"before": y_before[:, crop[0], crop[1]], "after": y_after[:, crop[0], crop[1]]}
        judged_crop = judged[crop]
        best = None
        for candidate in period * (1 + np.linspace(-REFINE_SPAN, REFINE_SPAN, REFINE_STEPS)):
            errors = np.zeros(judged_crop.shape, np.float32)
            for time, truth, side in checks:
                source = self.source_time(time, float(candidate), side)
                if source is None:
                    errors += 255.0
                    continue
                errors += np.abs(self._at(frames[side], source, side) - truth[crop])
            errors /= len(checks)
            score = float(errors[judged_crop].mean())
            if best is None or score < best[0]:
                best = (score, float(candidate), errors)
        pooled = np.full(inside.shape, 255.0, np.float32)  # outside the margin: no gain
        pooled[crop] = cv2.blur(best[2], (PROFILE_BOX, PROFILE_BOX))
        return best[1], pooled

    def _at(self, frames: np.ndarray, source: float, side: str) -> np.ndarray:
        """The side's frame at fractional time `source`, blending the two around it."""
        index = source + len(frames) - 1 if side == "before" else source - (self.n_missing + 1)
        low = math.floor(index)
        frac = index - low
        high = min(low + 1, len(frames) - 1)
        low = max(low, 0)
        if frac < 1e-3 or high == low:
            return frames[low].astype(np.float32)
        return (1 - frac) * frames[low].astype(np.float32) + frac * frames[high].astype(np.float32)

    # -- rendering ------------------------------------------------------------------------------
    def extent(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1): the box round every region, where `paint` may change anything."""
        return box_round([region.box for region in self.regions])

    def paint(self, k: int, canvas: np.ndarray, origin: tuple[int, int] = (0, 0)) -> None:
        """Blend the periodic regions of hole frame k into `canvas` ((h,w,3) float32), in place.

        origin: where the canvas's top-left pixel sits in the frame (a canvas may be a crop that
        holds `extent()`, so that a 1080p frame is not converted whole for a small lamp).
        """
        oy, ox = origin
        time = k + 1.0
        nearer = "before" if time <= (self.n_missing + 1) / 2 else "after"
        for region in self.regions:
            side = (
                nearer
                if (len(self.before) and len(self.after))
                else ("before" if len(self.before) else "after")
            )
            source = self.source_time(time, region.period, side)
            if source is None:
                other = "after" if side == "before" else "before"
                source, side = self.source_time(time, region.period, other), other
                if source is None:
                    continue
            y0, y1, x0, x1 = region.box
            frames = self.before if side == "before" else self.after
            crops = frames[:, y0:y1, x0:x1]
            picture = self._at(crops, source, side)
            w = region.weight
            rows, cols = slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox)
            canvas[rows, cols] = (1 - w) * canvas[rows, cols] + w * picture

    def coverage(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) float32: how much of each pixel the layer paints (the same for every frame)."""
        out = np.zeros(shape, np.float32)
        for region in self.regions:
            y0, y1, x0, x1 = region.box
            out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], region.weight[..., 0])
        return out


def box_round(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """The box (y0, y1, x0, x1) round all of `boxes` (each y0, y1, x0, x1)."""
    corners = np.array(boxes)
    return (
        int(corners[:, 0].min()),
        int(corners[:, 1].max()),
        int(corners[:, 2].min()),
        int(corners[:, 3].max()),
    )


def _small_luma(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,h,w) float32 luma at `size` = (w, h)."""
    if len(frames) == 0:
        return np.zeros((0, size[1], size[0]), np.float32)
    return np.stack([cv2.resize(luma(f), size, interpolation=cv2.INTER_AREA) for f in frames])


def _lag_profile(frames: np.ndarray) -> tuple[np.ndarray, float]:
    """(L, h, w) mean absolute difference at lags 1..L (box-pooled), and the still-noise floor."""
    # A lag needs MIN_PAIRS pairs of frames to be measured: one cycle and a few frames is enough to
    # propose a period, since the check across the gap (PeriodicLayer._refine) has the last word.
    max_lag = min(MAX_PERIOD, len(frames) - MIN_PAIRS)
    box = (PROFILE_BOX, PROFILE_BOX)
    profile = np.stack(
        [
            cv2.blur(np.abs(frames[lag:] - frames[:-lag]).mean(axis=0), box)
            for lag in range(1, max_lag + 1)
        ]
    )
    # Most of a fixed camera's picture is still: the median lag-1 difference is its noise.
    return profile, float(np.median(profile[0]))


def _returns(excess: np.ndarray, rise: np.ndarray) -> np.ndarray:
    """(L, ...) bool: lags at which the difference is back near the floor after having risen.

    A blinking lamp differs little from itself one frame later (it stays lit for a while): only a
    return after a rise of at least RISEN_SHARE of the largest counts as a cycle.
    """
    risen = np.maximum.accumulate(excess, axis=0) >= RISEN_SHARE * rise
    return risen & (excess <= PERIODIC_RATIO * rise)


def _periodic_regions(rise: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, int]:
    """Label image of the pixels that move (rise: each pixel's largest excess over the floor)
    and come back (returns, from _returns), as connected components; and their count."""
    periodic = (rise >= MOVING_EXCESS) & returns.any(axis=0)
    periodic = cv2.morphologyEx(
        periodic.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(periodic, connectivity=8)
    kept = np.zeros_like(labels)
    next_label = 0
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] >= MIN_REGION_PIXELS:
            next_label += 1
            kept[labels == label] = next_label
    return kept, next_label


def _first_returns(returns: np.ndarray) -> np.ndarray:
    """(h, w) int: each pixel's own first return lag (its period, to a whole frame), from
    _returns' (L, h, w) answer; 0 where it never returns."""
    returns = returns[MIN_PERIOD - 1 :]
    return np.where(returns.any(axis=0), returns.argmax(axis=0) + MIN_PERIOD, 0)


def _period_parts(inside: np.ndarray, first_returns: np.ndarray) -> list[np.ndarray]:
    """A region's pixels grouped by their own period, commonest first: pixels within one frame
    of the commonest lag left, up to MAX_PERIOD_PARTS groups of MIN_REGION_PIXELS or more. The
    whole region is the first group when no lag is common enough."""
    parts = []
    left = inside & (first_returns > 0)
    while len(parts) < MAX_PERIOD_PARTS and left.sum() >= MIN_REGION_PIXELS:
        lags, counts = np.unique(first_returns[left], return_counts=True)
        if counts.max() < MIN_REGION_PIXELS:
            break
        lag = lags[counts.argmax()]
        part = left & (np.abs(first_returns - lag) <= 1)
        parts.append(part)
        left &= ~part
    return parts or [inside]


def _profile_period(mean_profile: np.ndarray, floor: float) -> float | None:
    """A region's period in frames: its profile's first return, to a fraction of a frame."""
    excess = mean_profile - floor
    rise = float(excess.max())
    if rise < MOVING_EXCESS:
        return None
    returns = _returns(excess, np.float32(rise))
    for lag in range(MIN_PERIOD, len(excess) + 1):  # index lag-1 holds lag `lag`
        here = excess[lag - 1]
        if not returns[lag - 1]:  # not back yet
            continue
        if lag == len(excess):
            # Back at the longest lag measured: a slow wheel's period, at the context's limit
            # (32 frames give lags up to 24). The check across the gap looks up to 4 % longer.
            return float(lag)
        if excess[lag] < here:  # still falling
            continue
        left, right = excess[lag - 2], excess[lag]
        curve = left - 2 * here + right
        shift = 0.5 * (left - right) / curve if curve > 1e-6 else 0.0
        return lag + float(np.clip(shift, -0.5, 0.5))
    return None


def _multiple(period: float, others: list[float]) -> bool:
    """Is `period` two or more whole cycles of one of `others` (within PERIOD_TOLERANCE)?"""
    for other in others:
        cycles = round(period / other)
        if cycles >= 2 and abs(period - cycles * other) <= PERIOD_TOLERANCE * period:
            return True
    return False


def _to_source(
    weight: np.ndarray, shape: tuple[int, int], period: float, at_limit: bool
) -> Region | None:
    """A region at source size from its analysis-size weight, cropped to where it paints."""
    ys, xs = np.nonzero(weight > 0.02)
    if len(ys) == 0:
        return None
    height, width = shape
    sy, sx = height / weight.shape[0], width / weight.shape[1]
    y0, y1 = int(ys.min() * sy), min(height, math.ceil((ys.max() + 1) * sy))
    x0, x1 = int(xs.min() * sx), min(width, math.ceil((xs.max() + 1) * sx))
    full = cv2.resize(weight, (width, height), interpolation=cv2.INTER_LINEAR)
    weight = full[y0:y1, x0:x1, None].copy()
    return Region(period=period, box=(y0, y1, x0, x1), weight=weight, at_limit=at_limit)
