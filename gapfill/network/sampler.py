"""Deterministic DDIM sampling on numpy arrays, whatever runs the denoiser (torch, ONNX, TensorRT).

The noise comes from a numpy PCG64 generator seeded by the caller, so the same seed gives the same
footage on every backend. Formulas as in diffusion.py (cosine schedule, v-prediction).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

# t is kept off the exact ends: at t = 1 the input carries no signal at all and at t = 0 no noise.
T_MIN = 1e-3
T_MAX = 1.0 - 1e-3

# denoise(z_t, t) -> v, both float32 arrays of the segment latent's shape; t is (B,) float32.
DenoiseFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def alpha_sigma(t: float) -> tuple[float, float]:
    return math.cos(t * math.pi / 2), math.sin(t * math.pi / 2)


def timesteps(steps: int, start: float = T_MAX) -> np.ndarray:
    """steps + 1 times from `start` down to 0, evenly spaced."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    times = np.linspace(min(start, T_MAX), 0.0, steps + 1)
    times[-2] = max(times[-2], T_MIN)
    return times


def ddim_sample(
    denoise: DenoiseFn,
    shape: tuple[int, ...],
    steps: int,
    rng: np.random.Generator,
    guided_denoise: DenoiseFn | None = None,
    guidance: float = 1.0,
    init: np.ndarray | None = None,
    start: float = 1.0,
) -> np.ndarray:
    """Draw one latent of `shape` with deterministic DDIM (eta = 0).

    With `guided_denoise` (the same model without its anchor) and guidance != 1, the prediction is
    pushed away from the unanchored one: v = v_free + guidance * (v - v_free).
    With `init` and start < 1, sampling begins from `init` noised to time `start` instead of pure
    noise (SDEdit): the result stays closer to `init` (the first guess) the smaller `start` is.
    """
    z = rng.standard_normal(shape, dtype=np.float32)
    if init is not None and start < 1.0:
        a, s = alpha_sigma(start)
        z = (a * init + s * z).astype(np.float32)
    else:
        start = T_MAX
    batch = shape[0]
    times = timesteps(steps, start)
    for t_now, t_next in itertools.pairwise(times):
        t_arr = np.full((batch,), t_now, dtype=np.float32)
        v = denoise(z, t_arr)
        if guided_denoise is not None and guidance != 1.0:
            v_free = guided_denoise(z, t_arr)
            v = v_free + guidance * (v - v_free)
        a_now, s_now = alpha_sigma(float(t_now))
        z0 = a_now * z - s_now * v
        eps = s_now * z + a_now * v
        a_next, s_next = alpha_sigma(float(t_next))
        z = (a_next * z0 + s_next * eps).astype(np.float32)
    return z
