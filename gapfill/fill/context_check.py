"""Does the model's change to the first guess pay on this camera? Checked on its own footage.

MALT predicts a change to its first guess (gapfill.fill.first_guess.MotionGuess). Where the
model has learned what the camera shows, the change brings the fill nearer the truth; where it
has not (a scene unlike its training footage), the change is error. With the shipped checkpoint,
on 16- and 64-frame holes with 32 real frames each side (benchmarks/results/context_check.txt):
kept always, the change cost 0.24 dB on average at 16 frames on the real evaluation clips (up to
0.82), 0.4 to 4.6 dB on box.mp4, a fixed camera held out of its training, and within 0.02 dB
either way on a held-out simulated plant camera.

So before a hole is filled, the same thing is tried where the answer is known: a pseudo-hole of
CHECK_MISSING frames cut out of the real footage just before the hole, with CHECK_BEFORE real
frames before it and CHECK_AFTER after it, all at the model's working size. The model's change is
kept for the real hole only if, there, the model's fill is nearer the real frames than the guess
alone (mean squared error on luma). On those 33 holes the pseudo-hole said "worse" for 32, and
for all 11 where the change cost more than 0.1 dB. The stretch is 32 frames, so that the
context a repair reads (8 s; 32 frames in the benchmarks) is enough. Without CHECK_FRAMES real
frames before the hole nothing can be checked, and the guess alone is the fill.
"""

from __future__ import annotations

import numpy as np

from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.generate import fill_working
from gapfill.fill.metrics import luma_mse
from gapfill.runtime.backend import Backend

CHECK_BEFORE, CHECK_MISSING, CHECK_AFTER = 16, 8, 8  # frames at working size
CHECK_FRAMES = CHECK_BEFORE + CHECK_MISSING + CHECK_AFTER


def pseudo_hole_errors(
    engine: Backend,
    before_small: np.ndarray,
    seed: int,
    steps: int | None,
    context_segments: int,
) -> tuple[float, float] | None:
    """(model's, guess's) mean squared luma error on the pseudo-hole; None when T < CHECK_FRAMES."""
    if len(before_small) < CHECK_FRAMES:
        return None
    stretch = before_small[-CHECK_FRAMES:]
    before = stretch[:CHECK_BEFORE]
    truth = stretch[CHECK_BEFORE : CHECK_BEFORE + CHECK_MISSING]
    after = stretch[CHECK_BEFORE + CHECK_MISSING :]
    guess = MotionGuess(before, after, CHECK_MISSING)
    guessed = guess.frames(0, CHECK_MISSING)[0]
    filled = fill_working(
        engine, before, after, CHECK_MISSING, seed, steps, context_segments, first_guess=guess
    )
    return luma_mse(filled, truth), luma_mse(guessed, truth)
