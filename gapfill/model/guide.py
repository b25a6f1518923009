"""The first guess MALT starts each segment from, and the known-frame flags beside it.

MALT builds on the strongest classical filler instead of ignoring it: every segment it generates
sees, beside its noisy latent, the latent of the background-plate guess for the same frames
(gapfill.model.baselines: the neighbours near the span's edges, the per-pixel median of the context
in the middle). Frames of the segment that are real (the footage after a short gap) replace the
guess and are flagged as known, which is how 1- and 4-frame holes become interpolation.

The guess is computed one segment at a time so that a 10-minute span needs no more memory than a
short one. numpy only: the ONNX runtime uses this without torch.
"""

from __future__ import annotations

import numpy as np

from gapfill.model.baselines import PLATE_TAU, median_plate, plate_weights


def segment_guess(
    plate: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    first: int,
    count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames `first .. first+count-1` of the hole as guessed, and which of them are real.

    plate: (H, W, 3) uint8 from `median_plate`; frame indices at or past `n_missing` lie after the
    hole: they are real frames of `after` where it has them. Returns (count, H, W, 3) uint8 and a
    (count,) bool array, True where the frame is real.
    """
    idx = np.arange(first, first + count)
    in_hole = idx < n_missing
    has_before, has_after = len(before) > 0, len(after) > 0

    # Crossfade of the nearest real frames at each hole position (hold when one side is empty).
    t = ((idx + 1) / (n_missing + 1)).astype(np.float32)[:, None, None, None]
    start = (before[-1] if has_before else after[0]).astype(np.float32)
    end = (after[0] if has_after else before[-1]).astype(np.float32)
    crossfade = (1.0 - t) * start + t * end
    weights = plate_weights(n_missing, has_before, has_after, PLATE_TAU)
    p = np.where(in_hole, weights[np.minimum(idx, n_missing - 1)], 1.0)[:, None, None, None]
    guess = (1.0 - p) * crossfade + p * plate.astype(np.float32)

    known = np.zeros(count, dtype=bool)
    after_idx = idx - n_missing
    real = (~in_hole) & (after_idx < len(after))
    if real.any():
        guess[real] = after[after_idx[real]].astype(np.float32)
        known[real] = True
    return np.clip(np.rint(guess), 0, 255).astype(np.uint8), known


def known_fraction(known: np.ndarray, time_down: int) -> np.ndarray:
    """Per latent frame, the fraction of its frames that are real: (n,) -> (n / time_down,)."""
    return known.reshape(-1, time_down).mean(axis=1).astype(np.float32)


__all__ = ["known_fraction", "median_plate", "segment_guess"]
