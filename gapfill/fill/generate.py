"""The segment loop that fills a gap at the working size, on numpy arrays over any backend.

1. Context before the gap -> memory: encode each 16-frame segment, update the memory with it.
2. The 16 frames after the gap -> the anchor latent (none: the learned null anchor).
3. For each segment of the hole: DDIM-sample the change to its first guess's latent (residual
   models, in units of config.residual_scale; older ones sample the latent itself) from noise,
   reading memory, anchor and the first-guess latent; decode it as a change to the first guess;
   update the memory with the generated latent.
Each segment costs the same time and memory however many came before. numpy only (no torch):
the backend does the tensor work.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from gapfill.fill.allocator import release_free_heap
from gapfill.fill.first_guess import Guess, MotionGuess
from gapfill.fill.guide import known_fraction
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.sampler import alpha_sigma, ddim_sample
from gapfill.runtime.backend import Backend

# Context frames before the gap turned into memory by default (4 segments).
DEFAULT_CONTEXT_SEGMENTS = 4


def to_model_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 (1, 3, T, H, W) in [-1, 1]."""
    x = frames.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)[None])


def from_model_frames(x: np.ndarray) -> np.ndarray:
    """float32 (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    frames = (x[0].transpose(1, 2, 3, 0) + 1.0) * 127.5
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def pad_frames(frames: np.ndarray, count: int, at_end: bool) -> np.ndarray:
    """Repeat the edge frame so that `frames` has exactly `count` frames."""
    missing = count - len(frames)
    if missing <= 0:
        return frames[:count] if at_end else frames[-count:]
    edge = frames[-1:] if at_end else frames[:1]
    pad = np.repeat(edge, missing, axis=0)
    return np.concatenate([frames, pad] if at_end else [pad, frames], axis=0)


def noised_for_memory(z: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """The latent as the memory sees it: slightly noised, as in training (MALT's augmentation)."""
    if level <= 0:
        return z
    a, s = alpha_sigma(level)
    return (a * z + s * rng.standard_normal(z.shape, dtype=np.float32)).astype(np.float32)


def context_memory(
    backend: Backend,
    before: np.ndarray,
    context_segments: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Memory after reading the last `context_segments` segments of `before`, ending at the gap."""
    config = backend.config
    seg = config.segment_frames
    memory = backend.initial_memory(1)
    context = before[-context_segments * seg :] if context_segments > 0 else before[:0]
    if len(context) == 0:
        return memory
    n_segments = -(-len(context) // seg)
    context = pad_frames(context, n_segments * seg, at_end=False)
    for k in range(n_segments):
        z = backend.encode(to_model_frames(context[k * seg : (k + 1) * seg]))
        memory = backend.update_memory(
            memory, noised_for_memory(z, config.memory_noise_generate, rng)
        )
    return memory


def iter_fill(
    backend: Backend,
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    seed: int = 0,
    steps: int | None = None,
    context_segments: int = DEFAULT_CONTEXT_SEGMENTS,
    guidance: float = 1.0,
    first_guess: Guess | None = None,
) -> Iterator[np.ndarray]:
    """Yield the hole's frames one segment at a time: (<=16, H, W, 3) uint8 at the working size.

    `before` and `after` are uint8 (T, H, W, 3) at the working size; either may be empty, not both.
    `first_guess`: the guess each segment starts from, if the caller already built it (a
    MotionGuess of the same context, as in training).
    """
    config = backend.config
    seg = config.segment_frames
    steps = steps or config.sample_steps
    rng = np.random.Generator(np.random.PCG64(seed))
    memory = context_memory(backend, before, context_segments, rng)

    if len(after):
        anchor = backend.encode(to_model_frames(pad_frames(after[:seg], seg, at_end=True)))
    else:
        anchor = np.zeros((1, *config.latent_shape), dtype=np.float32)
    null_offset = np.full((1,), -1.0, dtype=np.float32)
    if first_guess is None:
        first_guess = MotionGuess(before, after, n_missing)
    memory_noise = np.full((1,), config.memory_noise_generate, dtype=np.float32)
    _, f, h, w = config.latent_shape

    n_segments = -(-n_missing // seg)
    for k in range(n_segments):
        first = k * seg
        guess, known = first_guess.frames(first, seg)
        z_guess = backend.encode(to_model_frames(guess))
        mask = np.broadcast_to(
            known_fraction(known, config.time_down)[None, None, :, None, None], (1, 1, f, h, w)
        )
        guide = np.concatenate([z_guess, mask.astype(np.float32)], axis=1)  # (1, C+1, F, h, w)
        if len(after):
            offset = np.full((1,), (n_missing - first) / seg, dtype=np.float32)
        else:
            offset = null_offset

        conditions = dict(memory=memory, anchor=anchor, guide=guide, memory_noise=memory_noise)
        anchored = {**conditions, "anchor_offset": offset}
        free = {**conditions, "anchor_offset": null_offset}
        # Residual models sample the change to the guess's latent, from "no change" when
        # sampling starts below t = 1; the others sample the latent from the guess's.
        sampled = ddim_sample(
            partial(_denoise, backend, anchored),
            (1, *config.latent_shape),
            steps,
            rng,
            guided_denoise=partial(_denoise, backend, free) if len(after) else None,
            guidance=guidance,
            init=np.zeros_like(z_guess) if config.residual else z_guess,
            start=config.sample_start,
        )
        z = z_guess + sampled / config.residual_scale if config.residual else sampled
        frames = frames_from_latent(backend, guess, known, z, z_guess)
        memory = backend.update_memory(
            memory, noised_for_memory(z, config.memory_noise_generate, rng)
        )
        release_free_heap()  # flat memory however many segments (allocator.py)
        yield frames[: min(seg, n_missing - first)]


def frames_from_latent(
    backend: Backend, guess: np.ndarray, known: np.ndarray, z: np.ndarray, z_guess: np.ndarray
) -> np.ndarray:
    """A segment's frames: the first guess plus what latent `z` changes relative to `z_guess`.

    guess (16, H, W, 3) uint8, known (16,) bool, z and z_guess (1, C, F, h, w) -> (16, H, W, 3).
    The autoencoder's reconstruction error is not part of the prediction: a latent equal to the
    guess's own returns the guess (first_guess.MotionGuess) exactly, and the real frames after a
    short hole (`known`) stay bit-exact.
    """
    change = backend.decode(z) - backend.decode(z_guess)  # (1, 3, 16, H, W)
    change[:, :, known] = 0.0
    return from_model_frames(to_model_frames(guess) + change)


def _denoise(
    backend: Backend, conditions: dict[str, np.ndarray], z_t: np.ndarray, t: np.ndarray
) -> np.ndarray:
    return backend.denoise(DenoiserInputs(z_t=z_t, t=t, **conditions))


def fill_working(
    backend: Backend,
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    seed: int = 0,
    steps: int | None = None,
    context_segments: int = DEFAULT_CONTEXT_SEGMENTS,
    guidance: float = 1.0,
    first_guess: Guess | None = None,
) -> np.ndarray:
    """All of the hole's frames at the working size: (n_missing, H, W, 3) uint8."""
    parts = iter_fill(
        backend, before, after, n_missing, seed, steps, context_segments, guidance, first_guess
    )
    return np.concatenate(list(parts), axis=0)
