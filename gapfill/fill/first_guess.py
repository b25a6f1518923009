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
   found first, so that the motion layers do not track its lamps and spokes as objects.
Built once per hole; `frames` gives any run of it, with FirstGuess's meaning, so that the fill
pipeline, the composition at source size and the training data read either the same way.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gapfill.fill.baselines import check_gap_inputs
from gapfill.fill.motion_fill import MotionFill
from gapfill.fill.periodic import PeriodicLayer


class Guess(Protocol):
    """What the fill loop and the composition read from a first guess."""

    before: np.ndarray
    after: np.ndarray
    n_missing: int
    plate: np.ndarray  # (H,W,3) float32: its size is the guess's size

    def frames(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]: ...


class MotionGuess:
    """The motion layers with the periodic regions painted over them (see the module docstring).

    before, after: uint8 (T,H,W,3) real frames around the hole (either may be empty, not both).
    `after` may be longer than the flowplate guess reads: the periodic layer checks its periods
    on it.
    """

    def __init__(self, before: np.ndarray, after: np.ndarray, n_missing: int) -> None:
        height, width = check_gap_inputs(before, after, n_missing)
        self.periodic = PeriodicLayer(before, after, n_missing)
        owned = self.periodic.coverage((height, width)) if self.periodic.regions else None
        self.base = MotionFill(before, after, n_missing, owned)
        self.before, self.after, self.n_missing = before, after, int(n_missing)
        self.plate = self.base.plate

    def frames(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames first .. first+count-1: (count,H,W,3) uint8, and (count,) bool True where real."""
        out, known = self.base.frames(first, count)
        if not self.periodic.regions:
            return out, known
        # Only the box round the periodic regions is converted and painted: the rest of the frame
        # would come back unchanged.
        y0, y1, x0, x1 = self.periodic.extent()
        for i, k in enumerate(range(first, first + count)):
            if known[i]:
                continue
            canvas = out[i, y0:y1, x0:x1].astype(np.float32)
            self.periodic.paint(min(k, self.n_missing - 1), canvas, origin=(y0, x0))
            out[i, y0:y1, x0:x1] = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        return out, known


def motion_guess(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """MALT's first guess on its own, as a filler: what the learned part is measured against."""
    return MotionGuess(before, after, n_missing).frames(0, n_missing)[0]
