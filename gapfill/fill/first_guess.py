"""MotionGuess: the first guess MALT starts every segment from, with the scene kept moving.

Layers, bottom to top:
1. the flowplate guess (baselines.FirstGuess): dense flow near the span's edges, the median
   background plate in its middle, which is right wherever nothing moves;
2. the motion layers (gapfill.fill.motion_fill.MotionFill): objects carried along Hermite paths
   from where they were before the gap to where they are after it, and steady-motion layers (a
   belt and what rides on it) shifted at the speed measured across the gap;
3. the periodic layer (gapfill.fill.periodic): wheels, lamps, strokes and belt slats continued
   at their own period and phase from real frames. It goes on top: where it paints, its check
   across the gap has shown that the period explains the pixel better than the plate. It is
   found first, so that the motion layers do not track its lamps and spokes as objects. Where a
   motion layer draws it yields: on a belt the slats repeat but the boxes riding on them do
   not, and a person walking past a wheel is in front of it;
4. the rotation layer (gapfill.fill.rotation), over the periodic regions that turn: a wheel is
   drawn from real frames' wheels turned about its hub to the angle of the moment, so the mark
   on its rim comes round once a turn instead of once a spoke.
Built once per hole; `frames` gives any run of it, with FirstGuess's meaning, so that the fill
pipeline, the composition at source size and the training data read either the same way.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gapfill.fill.baselines import check_gap_inputs
from gapfill.fill.motion_fill import MotionFill
from gapfill.fill.periodic import PeriodicLayer, box_round
from gapfill.fill.rotation import RotationLayer


class Guess(Protocol):
    """What the fill loop and the composition read from a first guess."""

    before: np.ndarray
    after: np.ndarray
    n_missing: int
    plate: np.ndarray  # (H,W,3) float32: its size is the guess's size

    def frames(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]: ...


class MotionGuess:
    """The motion layers with the periodic regions and wheels painted over them (see the module
    docstring).

    before, after: uint8 (T,H,W,3) real frames around the hole (either may be empty, not both).
    `after` may be longer than the flowplate guess reads: the periodic layer checks its periods
    on it.
    """

    def __init__(self, before: np.ndarray, after: np.ndarray, n_missing: int) -> None:
        height, width = check_gap_inputs(before, after, n_missing)
        self.periodic = PeriodicLayer(before, after, n_missing)
        self.rotation = RotationLayer(before, after, n_missing, self.periodic)
        # A cycle seen only at the context's longest lag is a slow wheel's or a coincidence (boxes
        # on a belt passing a spot at that interval): kept where the rotation layer found a wheel.
        self.periodic.regions = [
            region
            for region in self.periodic.regions
            if not region.at_limit or any(region is turned for turned in self.rotation.regions)
        ]
        owned = None
        if self.periodic.regions:
            owned = self.periodic.coverage((height, width))
            # The wheel's whole disc, not only its spokes: the mark on the rim is not an object
            # that flies off (held-out seed 2000000: a red dot drifting away from the wheel).
            self.rotation.coverage(owned)
        self.base = MotionFill(before, after, n_missing, owned)
        self.before, self.after, self.n_missing = before, after, int(n_missing)
        self.plate = self.base.plate

    def frames(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames first .. first+count-1: (count,H,W,3) uint8, and (count,) bool True where real."""
        if not self.periodic.regions:
            return self.base.frames(first, count)
        return self.base.frames(first, count, finish=self._paint_periodic)

    def _paint_periodic(self, k: int, frame: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """Hole frame k of the motion layers with the periodic regions and wheels painted over
        it, in place."""
        # Only the box round the periodic regions and wheels is painted: the rest of the frame is
        # unchanged.
        boxes = [self.periodic.extent()]
        if self.rotation.wheels:
            boxes.append(self.rotation.extent())
        y0, y1, x0, x1 = box_round(boxes)
        base = frame[y0:y1, x0:x1]
        canvas = base.copy()
        self.periodic.paint(k, canvas, origin=(y0, x0))
        self.rotation.paint(k, canvas, origin=(y0, x0))
        # Where a motion layer draws, it is the better model. A steady layer's translation: a
        # belt's slats repeat, but the boxes riding on them do not, and a copy of the real frame
        # at the slats' phase shows slats through every box (held-out seed 2000001, 64-frame hole
        # at frame 224: 36.09 dB in benchmarks/guess_holes.py, 30.09 with the periodic layer over
        # the belt). An object: a person walking past a wheel is in front of it, and the wheel
        # painted over them cut them in half (training seed 28, 16-frame hole at frame 80: the
        # person's pixels over the wheel 6.5 dB, 12.3 with the wheel yielding; held-out seeds
        # 2000000-2000003 at 1 / 4 / 16 / 64 frames: 31.94 / 29.15 / 29.06 / 33.16 dB ->
        # 31.96 / 29.18 / 29.16 / 33.16).
        canvas += moving[y0:y1, x0:x1, None] * (base - canvas)
        base[:] = canvas  # frame is this guess's to paint on (MotionFill.frames)
        return frame


def motion_guess(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """MALT's first guess on its own, as a filler: what the learned part is measured against."""
    return MotionGuess(before, after, n_missing).frames(0, n_missing)[0]
