"""The rotation layer: a wheel keeps turning through a gap, mark and all.

The periodic layer (gapfill.fill.periodic) continues a flywheel's spokes by copying the real
frame one spoke period away. That is right for the spokes and wrong for anything that comes back
only once a turn: the mark on the rim (the simulated cameras' flywheels carry one) lands a spoke
further round. On held-out seeds 2000000-2000001 the flywheel was 7.7 % of the first guess's error
in 16-frame holes (benchmarks/guess_parts.py; results/guess_parts.txt). A turning wheel is better
told as what it is: a real frame's wheel, turned about its hub by the angle the wheel turns in the
time between.

How, per periodic region that could be a wheel (at least MIN_RADIUS_SHARE of the picture's
height across, not far from square), on luma crops shrunk to at most ANALYSIS_SIDE px:
1. Hub: where the context's mean picture (spokes smeared into a disc, the rim a ring) changes
   least when turned, searched within HUB_SEARCH px of the spokes' centre.
2. Speed: a wheel with s spokes and spoke period P frames turns 2*pi/(s*P) a frame, one way or
   the other. Each s up to MAX_SPOKES and each sense are tried on the context's consecutive
   frames; the best must explain them clearly better than no rotation (ROTATION_GAIN), or the
   region is not a wheel.
3. Across the gap: the speed is refined to within SPEED_SPAN by predicting the first real frames
   after the gap from before[-1] and the last before it from after[0]. The disc is painted
   except where that prediction does worse than the median plate (something in front of it).
Rendering a hole frame takes the MEDIAN_FRAMES real frames (either side) whose wheel stands nearest
the angle it must show, a whole number of turns aside, turns each full-size crop by what is left,
and paints their median: small turns resample the spokes less than turning an end frame through
the whole hole, and the median drops a person passing in front of the wheel in one of them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from gapfill.fill.metrics import luma
from gapfill.fill.periodic import VALIDATION_FRAMES, PeriodicLayer, Region, box_round

# A region whose box is narrower than twice this share of the picture's height is a lamp, not a
# wheel (the simulated cameras' flywheels are 16-27 % of it across, their lamps 3 %).
MIN_RADIUS_SHARE = 0.04
MAX_ASPECT = 1.5  # a region's box longer than this against its other side is not a wheel
ANALYSIS_SIDE = 96  # px: the crop's longest side for the analysis
MAX_SPOKES = 12
# The hub is searched within HUB_SEARCH analysis px each way around the spokes' centre, in steps
# of HUB_STEP, as the centre about which the context's mean picture turned by SYMMETRY_TURNS
# radians changes least.
HUB_SEARCH, HUB_STEP = 4.0, 0.5
SYMMETRY_TURNS = (0.7, 1.9)
CONTEXT_PAIRS = 8  # consecutive real frame pairs per side that measure the speed
# The best rotation must leave at most this share of the error of no rotation at all.
ROTATION_GAIN = 0.6
SPEED_SPAN, SPEED_STEPS = 0.01, 21  # across-gap refinement of the speed: +-1 %, 21 steps
# The rim round the spokes: the region's box is grown by RIM_MARGIN of its side for the analysis,
# and the disc painted reaches RIM_REACH times the spokes' farthest pixel from the hub (the
# simulated flywheels' rim is a seventh of the radius).
RIM_MARGIN, RIM_REACH = 0.2, 1.2
# A disc pixel is painted wholly where the turned wheel's check error is at most the plate's, not
# at all where it is WORSE_THAN_PLATE grey levels above it.
WORSE_THAN_PLATE = 4.0
# A hole frame's wheel is the median of the MEDIAN_FRAMES real frames nearest its angle (a whole
# number of turns aside), each turned by the rest.
MEDIAN_FRAMES = 5
# A real frame whose wheel, turned from a neighbour's, is off by over this many times the median
# such error has something in front of it (_clean_frames).
OCCLUDED_ERROR = 2.0


@dataclass
class Wheel:
    """One turning wheel: its hub, speed, box at source size and per-pixel weight there."""

    centre: tuple[float, float]  # x, y at source size
    speed: float  # radians per frame, positive counter-clockwise on screen (OpenCV's sense)
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 at source size
    weight: np.ndarray  # (y1-y0, x1-x0, 1) float32 in [0, 1]
    clean: np.ndarray  # (len(before)+len(after),) bool: nothing in front of it in that real frame


class RotationLayer:
    """Paints the wheels of hole frames as real frames' wheels turned to the angle of the moment.

    before, after: uint8 (T,H,W,3) real frames around the hole, both non-empty for any wheel to
    be found (the speed is checked across the gap); periodic: the hole's PeriodicLayer, whose
    regions and periods say where wheels may be.
    """

    def __init__(
        self, before: np.ndarray, after: np.ndarray, n_missing: int, periodic: PeriodicLayer
    ):
        self.before, self.after, self.n_missing = before, after, int(n_missing)
        self.wheels: list[Wheel] = []
        self.regions: list[Region] = []  # the periodic regions the wheels were found in
        if not len(before) or not len(after):
            return
        frame_height, frame_width = before.shape[1:3]
        found = []
        for region in periodic.regions:
            y0, y1, x0, x1 = region.box
            h, w = y1 - y0, x1 - x0
            too_small = min(h, w) < 2 * MIN_RADIUS_SHARE * frame_height
            if too_small or max(h, w) > MAX_ASPECT * min(h, w):
                continue
            # The spokes are the periodic part; the rim and its mark lie round them.
            grow = round(RIM_MARGIN * max(h, w))
            box = (
                max(y0 - grow, 0),
                min(y1 + grow, frame_height),
                max(x0 - grow, 0),
                min(x1 + grow, frame_width),
            )
            spokes = np.zeros((box[1] - box[0], box[3] - box[2]), np.float32)
            spokes[y0 - box[0] : y1 - box[0], x0 - box[2] : x1 - box[2]] = region.weight[..., 0]
            wheel = self._wheel(box, spokes, region.period)
            if wheel is not None:
                found.append((wheel, region))
        # The spokes of one wheel may make two regions (those that repeat with every spoke,
        # those with every other): the one that explains more of the disc is the wheel.
        for wheel, region in sorted(found, key=lambda found: -float(found[0].weight.sum())):
            y0, y1, x0, x1 = wheel.box
            if not any(_inside(kept.box, ((y0 + y1) / 2, (x0 + x1) / 2)) for kept in self.wheels):
                self.wheels.append(wheel)
                self.regions.append(region)

    # --- analysis -------------------------------------------------------------------------
    def _wheel(
        self,
        box: tuple[int, int, int, int],
        weight: np.ndarray,
        period: float,
    ) -> Wheel | None:
        """The wheel in periodic region `box` (its weight, its spoke period), or None."""
        y0, y1, x0, x1 = box
        scale = min(1.0, ANALYSIS_SIDE / max(y1 - y0, x1 - x0))

        def small(frames: np.ndarray) -> np.ndarray:
            crops = luma(frames[:, y0:y1, x0:x1])
            return np.stack([cv2.resize(c, None, fx=scale, fy=scale) for c in crops])

        # Every real frame's crop (the occlusion check reads them all); the analysis reads those
        # next to the gap.
        sides = small(self.before), small(self.after)
        reach = max(CONTEXT_PAIRS + 1, VALIDATION_FRAMES)
        before, after = sides[0][-reach:], sides[1][:reach]
        inside = cv2.resize(weight, before.shape[2:0:-1]) > 0.5
        if inside.sum() < 16:
            return None
        ys, xs = np.nonzero(inside)
        # The hub: where the context's mean picture (spokes smeared into a disc, the rim a ring)
        # looks the same turned, searched round the spokes' centre.
        mean = np.concatenate([before, after]).mean(axis=0)
        steps = np.arange(-HUB_SEARCH, HUB_SEARCH + HUB_STEP / 2, HUB_STEP)
        start = np.array([xs.mean(), ys.mean()])
        hub = min(
            (start + np.array([dx, dy]) for dy in steps for dx in steps),
            key=lambda hub: sum(
                float(np.abs(_turn(mean, hub, angle) - mean)[inside].mean())
                for angle in SYMMETRY_TURNS
            ),
        )

        # Speed from consecutive context frames next to the gap.
        pairs = [
            (before[-2 - i], before[-1 - i]) for i in range(min(CONTEXT_PAIRS, len(before) - 1))
        ]
        pairs += [(after[i], after[i + 1]) for i in range(min(CONTEXT_PAIRS, len(after) - 1))]
        speeds = [
            sense * 2 * math.pi / (spokes * period)
            for spokes in range(1, MAX_SPOKES + 1)
            for sense in (1, -1)
        ]
        errors = {s: _pair_errors(pairs, hub, s, inside) for s in speeds}
        _, speed = min((float(errors[s].mean()), s) for s in speeds)
        # Judged without the pairs that something in front of the wheel spoils (as
        # _clean_frames): a worker crossing it in the frames next to the gap raises the error of
        # every speed, and the wheel was taken for a lamp (training seed 28, frame 96: 63 % of
        # the still error left; guess_holes.py, 64-frame hole: 30.08 -> 31.05 dB).
        turned = errors[speed]
        still = _pair_errors(pairs, hub, 0.0, inside)
        clear = turned <= OCCLUDED_ERROR * np.median(turned)
        if turned[clear].mean() > ROTATION_GAIN * still[clear].mean():
            return None  # not a turning wheel: a lamp, a press, a belt seen end-on

        # Across the gap: the speed that carries before[-1] onto the frames after the gap and
        # after[0] back onto those before it. Checks: (source, frames turned, the real frame),
        # on the frames with nothing in front of the wheel: a person walking past it would mark
        # the disc as hidden where they passed, and the wheel would not be painted there.
        clean = _clean_frames(sides, hub, speed, inside)
        first_after = len(self.before)
        span = self.n_missing + 1
        checks = [
            (before[-1], span + j, after[j]) for j in range(len(after)) if clean[first_after + j]
        ]
        checks += [
            (after[0], -(span + j), before[-1 - j])
            for j in range(len(before))
            if clean[first_after - 1 - j]
        ]
        if not checks:
            return None  # every frame next to the gap has something in front of the wheel
        found = None
        for candidate in speed * (1 + np.linspace(-SPEED_SPAN, SPEED_SPAN, SPEED_STEPS)):
            errors = np.mean(
                [
                    np.abs(_turn(src, hub, turns * candidate) - truth)
                    for src, turns, truth in checks
                ],
                axis=0,
            )
            score = float(errors[inside].mean())
            if found is None or score < found[0]:
                found = (score, float(candidate), errors)
        _, speed, errors = found
        # Painted over the whole disc the spokes sweep, rim included, except where the turned
        # wheel does worse than the median plate (something standing in front of the wheel).
        # Not only where it does better, as the periodic layer's pixels: the mark on the rim
        # passes a given pixel once a turn, and the checked frames may not show it there.
        radius = RIM_REACH * np.hypot(xs - hub[0], ys - hub[1]).max()
        rows, cols = np.mgrid[: inside.shape[0], : inside.shape[1]]
        disc = np.hypot(cols - hub[0], rows - hub[1]) <= radius
        plate = np.median(np.concatenate([before, after]), axis=0)
        plate_error = np.mean([np.abs(truth - plate) for _, _, truth in checks], axis=0)
        loss = cv2.blur(errors - plate_error, (3, 3))
        paint = np.clip(1 - loss / WORSE_THAN_PLATE, 0, 1) * disc
        full = cv2.resize(paint.astype(np.float32), (x1 - x0, y1 - y0))
        hub_full = (x0 + (hub[0] + 0.5) / scale - 0.5, y0 + (hub[1] + 0.5) / scale - 0.5)
        return Wheel(hub_full, speed, box, full[..., None], clean)

    # --- rendering -------------------------------------------------------------------------
    def paint(self, k: int, canvas: np.ndarray, origin: tuple[int, int] = (0, 0)) -> None:
        """Blend the wheels of hole frame k into `canvas` ((h,w,3) float32, its top-left pixel at
        `origin` in the frame), in place."""
        oy, ox = origin
        time = k + 1.0  # frames after before[-1]
        # Every real frame, by its time: before[-1] is 0, after[0] is n_missing + 1.
        times = np.concatenate(
            [np.arange(-len(self.before) + 1, 1), self.n_missing + 1 + np.arange(len(self.after))]
        )
        for wheel in self.wheels:
            y0, y1, x0, x1 = wheel.box
            hub = (wheel.centre[0] - x0, wheel.centre[1] - y0)
            # The real frames nearest this moment's angle, a whole number of turns aside, each
            # turned by what is left: small turns resample the spokes less than turning an end
            # frame through the hole, and their median drops what passes in front of the wheel.
            left = wheel.speed * (time - times)
            left = (left + math.pi) % (2 * math.pi) - math.pi
            # Frames with something in front of the wheel are passed over while there are
            # enough others: five frames a turn apart may all show the same person standing
            # there (held-out seed 2000000: a vest painted on the wheel for six frames).
            candidates = np.flatnonzero(wheel.clean)
            if len(candidates) < MEDIAN_FRAMES:
                candidates = np.arange(len(times))
            nearest = candidates[np.argsort(np.abs(left[candidates]))[:MEDIAN_FRAMES]]
            turned = _median(
                [_turn(self._crop(int(i), wheel.box), hub, float(left[i])) for i in nearest]
            )
            rows, cols = slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox)
            canvas[rows, cols] += wheel.weight * (turned - canvas[rows, cols])

    def _crop(self, index: int, box: tuple[int, int, int, int]) -> np.ndarray:
        """Real frame `index` of before+after, cropped to `box`, as float32."""
        y0, y1, x0, x1 = box
        frames, i = (
            (self.before, index)
            if index < len(self.before)
            else (self.after, index - len(self.before))
        )
        return frames[i, y0:y1, x0:x1].astype(np.float32)

    def coverage(self, out: np.ndarray) -> None:
        """Raise `out` ((H, W) float32, the frame's size) to how much of each pixel the wheels
        paint, in place."""
        for wheel in self.wheels:
            y0, y1, x0, x1 = wheel.box
            np.maximum(out[y0:y1, x0:x1], wheel.weight[..., 0], out=out[y0:y1, x0:x1])

    def extent(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1): the box round every wheel."""
        return box_round([wheel.box for wheel in self.wheels])


def _clean_frames(
    sides: tuple[np.ndarray, np.ndarray], hub: np.ndarray, speed: float, inside: np.ndarray
) -> np.ndarray:
    """(len(before)+len(after),) bool: the real frames in which nothing stands in front of the
    wheel. sides: the analysis-size luma crops of the wheel's box, before the gap and after it.

    A frame is occluded when the wheel turned from its neighbour does not explain it: its error
    against each neighbour on its side of the gap (one at a side's end) is over OCCLUDED_ERROR
    times the median of all such errors. A person walking past the wheel moves, but not round
    the hub."""
    errors = [
        list(_pair_errors(list(itertools.pairwise(crops)), hub, speed, inside)) for crops in sides
    ]
    every = [e for side in errors for e in side]
    if not every:
        return np.ones(sum(len(crops) for crops in sides), bool)
    limit = OCCLUDED_ERROR * float(np.median(every))
    clean = []
    for crops, side in zip(sides, errors, strict=True):
        for i in range(len(crops)):
            touching = side[max(i - 1, 0) : i + 1]  # the pairs (i-1, i) and (i, i+1)
            clean.append(not touching or min(touching) <= limit)
    return np.array(clean, bool)


def _median(pictures: list[np.ndarray]) -> np.ndarray:
    """Per-pixel median of the pictures. Five (MEDIAN_FRAMES) take a min/max network, 50x faster
    than np.median's sort at 1280x720 (0.01 s against 0.53 for 64 hole frames): of four, drop the
    smallest and the largest; the median of five is the median of the two left and the fifth."""
    if len(pictures) != 5:
        return np.median(pictures, axis=0)
    a, b, c, d, e = pictures
    low = np.maximum(np.minimum(a, b), np.minimum(c, d))
    high = np.minimum(np.maximum(a, b), np.maximum(c, d))
    return np.maximum(np.minimum(low, high), np.minimum(np.maximum(low, high), e))


def _inside(box: tuple[int, int, int, int], point: tuple[float, float]) -> bool:
    """Whether (y, x) lies in box (y0, y1, x0, x1)."""
    return box[0] <= point[0] < box[1] and box[2] <= point[1] < box[3]


def _pair_errors(
    pairs: list[tuple[np.ndarray, np.ndarray]], hub: np.ndarray, speed: float, inside: np.ndarray
) -> np.ndarray:
    """(len(pairs),) mean absolute error over `inside` of predicting the second frame of each
    pair of consecutive frames by turning the first by `speed` about `hub`."""
    return np.array(
        [float(np.abs(_turn(first, hub, speed) - second)[inside].mean()) for first, second in pairs]
    )


def _turn(image: np.ndarray, hub, angle: float) -> np.ndarray:
    """`image` rotated by `angle` radians about `hub` (x, y), counter-clockwise on screen."""
    matrix = cv2.getRotationMatrix2D((float(hub[0]), float(hub[1])), math.degrees(angle), 1.0)
    size = image.shape[1::-1]
    return cv2.warpAffine(
        image, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
