"""The known-frame flags that go beside the first guess MALT starts each segment from.

MALT builds on the strongest classical fillers instead of ignoring them: every segment it
generates sees, beside its noisy latent, the latent of the first guess for the same frames
(gapfill.fill.baselines.FirstGuess: dense-flow interpolation near the span's edges, the
per-pixel median of the context in the middle). Frames of the segment that are real (the footage
after a short gap) replace the guess and are flagged as known, which is how 1- and 4-frame holes
become interpolation.

The guess itself lives with the classical fillers (baselines.FirstGuess, built once per hole and
read one segment at a time). numpy only: the ONNX runtime uses this without torch.
"""

from __future__ import annotations

import numpy as np


def known_fraction(known: np.ndarray, time_down: int) -> np.ndarray:
    """Per latent frame, the fraction of its frames that are real: (n,) -> (n / time_down,)."""
    return known.reshape(-1, time_down).mean(axis=1).astype(np.float32)


__all__ = ["known_fraction"]
