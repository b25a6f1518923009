"""Is a fine-tuned child better than its parent on the camera's footage it did not train on?

A nightly fine-tuning runs unattended: a child that fills the camera's holes worse than its parent
must not quietly take over the camera's repairs. So fine-tuning holds out the camera's latest
footage (the tail of the latest shot long enough to cut a hole in), trains on the rest, then cuts
one-segment holes in the held-out frames and fills them with the parent and with the child, the
same seed for both. The child becomes the camera's model only if its squared error over all holes
is no larger than the parent's (`--adopt always` skips the comparison's verdict, not the figures).

Holes are one segment long: that is where the learned change to the first guess matters (shorter
holes are mostly the guess's interpolation, longer ones the background plate). Errors are pooled
over every hole's pixels (luma, as benchmarks/fill_quality.py measures), so that one static hole
that both fill perfectly cannot make a mean of PSNRs infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.fill.metrics import luma
from gapfill.network.config import MaltConfig
from gapfill.training.data import RealShot

HELD_OUT_SHARE = 0.2  # of the window's frames, at least one hole's worth
MAX_HOLES = 4


@dataclass(frozen=True)
class HeldOut:
    shot: RealShot  # the held-out frames: the tail of one shot
    context: int  # real frames on each side of a hole
    hole: int  # frames per hole


@dataclass(frozen=True)
class Validation:
    holes: int
    hole_frames: int
    held_out_frames: int
    parent_mse: float  # luma, pooled over every hole frame and pixel
    child_mse: float

    @property
    def child_is_not_worse(self) -> bool:
        return self.child_mse <= self.parent_mse

    def summary(self) -> dict[str, Any]:
        """For the child's training_summary (JSON: no infinities)."""
        return {
            "holes": self.holes,
            "hole_frames": self.hole_frames,
            "held_out_frames": self.held_out_frames,
            "parent_mse": self.parent_mse,
            "child_mse": self.child_mse,
            "parent_psnr_db": _db(self.parent_mse),
            "child_psnr_db": _db(self.child_mse),
        }

    def words(self) -> str:
        parent, child = _db(self.parent_mse), _db(self.child_mse)
        return (
            f"child {_say(child)} against parent {_say(parent)} on {self.holes} held-out holes "
            f"of {self.hole_frames} frames"
        )


def hold_out(shots: list[RealShot], config: MaltConfig) -> tuple[list[RealShot], HeldOut | None]:
    """(training shots, held-out frames): the tail of the latest shot that can hold a hole with a
    segment of context on each side, HELD_OUT_SHARE of all frames or one hole's window if more.
    None (and every shot to train on) when no shot is that long. Whether what is left is enough
    to train on is the caller's question."""
    context = hole = config.segment_frames
    window = 2 * context + hole
    wanted = max(window, round(HELD_OUT_SHARE * sum(len(s.frames) for s in shots)))
    for i in reversed(range(len(shots))):
        shot = shots[i]
        if len(shot.frames) >= window:
            keep = max(0, len(shot.frames) - wanted)
            tail = RealShot(f"{shot.name} (held out)", shot.frames[keep:], shot.fps)
            rest = [RealShot(shot.name, shot.frames[:keep], shot.fps)] if keep else []
            return [*shots[:i], *rest, *shots[i + 1 :]], HeldOut(tail, context, hole)
    return shots, None


def validate(held_out: HeldOut, parent: Path, child: Path, seed: int, device: str) -> Validation:
    """Fill the held-out holes with both models (eager torch, the same seed) and compare."""
    from gapfill.fill.fill_gap import fill_gap  # loads torch: only once a fine-tuning has trained

    frames, fps = held_out.shot.frames, held_out.shot.fps
    c, n = held_out.context, held_out.hole
    last_start = len(frames) - c - n
    starts = sorted({int(s) for s in np.linspace(c, last_start, num=MAX_HOLES)})
    errors: dict[Path, list[float]] = {parent: [], child: []}
    for start in starts:
        before, truth = frames[start - c : start], frames[start : start + n]
        after = frames[start + n : start + n + c]
        for model, sums in errors.items():
            # The models' own fills: with one segment of context the context check could not
            # run, and both would be the first guess alone.
            fill = fill_gap(
                before,
                after,
                n,
                fps,
                model=model,
                seed=seed,
                backend="torch",
                device=device,
                check_change=False,
            )
            sums.append(float(np.sum((luma(fill) - luma(truth)) ** 2, dtype=np.float64)))
    pixels = len(starts) * n * frames.shape[1] * frames.shape[2]
    return Validation(
        holes=len(starts),
        hole_frames=n,
        held_out_frames=len(frames),
        parent_mse=sum(errors[parent]) / pixels,
        child_mse=sum(errors[child]) / pixels,
    )


def _db(mse: float) -> float | None:
    return None if mse == 0 else round(10 * math.log10(255.0**2 / mse), 3)


def _say(db: float | None) -> str:
    return "exact" if db is None else f"{db:.2f} dB"
