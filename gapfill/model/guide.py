"""The first guess MALT starts each segment from, and the known-frame flags beside it.

MALT builds on the strongest classical fillers instead of ignoring them: every segment it
generates sees, beside its noisy latent, the latent of the first guess for the same frames
(gapfill.model.baselines.FirstGuess: dense-flow interpolation near the span's edges, the
per-pixel median of the context in the middle). Frames of the segment that are real (the footage
after a short gap) replace the guess and are flagged as known, which is how 1- and 4-frame holes
become interpolation.

The guess is built once per hole and read one segment at a time, so a 10-minute span needs no
more memory than a short one. numpy and OpenCV only: the ONNX runtime uses this without torch.
"""

from __future__ import annotations

import numpy as np

from gapfill.model.baselines import FirstGuess


def known_fraction(known: np.ndarray, time_down: int) -> np.ndarray:
    """Per latent frame, the fraction of its frames that are real: (n,) -> (n / time_down,)."""
    return known.reshape(-1, time_down).mean(axis=1).astype(np.float32)


__all__ = ["FirstGuess", "known_fraction"]
