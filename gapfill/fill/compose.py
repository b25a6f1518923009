"""Bring a fill made at the model's small working size back to the source resolution.

MALT fills a hole at a small working size (e.g. 128x96), starting every segment from a first
guess (gapfill.fill.first_guess.MotionGuess: motion-compensated neighbours near the edges, the
background plate in the middle, what moves kept moving) and predicting what to change in it.
Upscaling its output would
blur a 720p picture to mush; but the same first guess can be made at full resolution from the
full-resolution context, so the output is

    out_k = guess_full_k + upscale(fill_k - guess_small_k)

the full-resolution guess with the model's change added. Everything the guess gets right stays
as sharp as the real footage it came from (the warped neighbours, the plate), and the model
contributes what the guess lacks at the scale it works at. Changes below CHANGE_FLOOR grey levels
(rounding, sampler noise) are dropped, ramping to full strength at CHANGE_FULL, so a fill that
agrees with its guess returns the full-resolution guess bit for bit: in a static scene, the real
pixels.

How much of the change to keep also depends on where the frame sits: near real footage the
motion-compensated guess is hard to beat and a weak model's change is mostly error, so frame k
keeps 1 - exp(-d_k / change_tau) of it, d_k frames from the nearest real frame (the same ramp
as the plate's, gapfill.fill.baselines.plate_weights); change_tau is measured per checkpoint
(MaltConfig.change_tau).

Where the model replaces the guess outright (an object the context never showed; a change of
REPLACE_HIGH grey levels or more, from REPLACE_LOW) the guess's fine detail no longer belongs
there: its high band (the guess minus its own upscaled working-size copy) is taken out, leaving
the upscaled fill.
"""

from __future__ import annotations

import cv2
import numpy as np

from gapfill.errors import UserError
from gapfill.fill.baselines import plate_weights
from gapfill.fill.first_guess import Guess
from gapfill.fill.metrics import luma

# Luma change (grey levels, 0-255, at working size) below which the model's change is dropped,
# and above which it is kept whole; linear in between.
CHANGE_FLOOR, CHANGE_FULL = 1.0, 3.0
REPLACE_LOW, REPLACE_HIGH = 16.0, 48.0
CHUNK = 16  # hole frames whose two guesses are held at a time, however long the hole


def _ramp_up(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below `low`, 1 above `high`, linear in between; (h,w) -> (h,w,1)."""
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)[..., None]


def _compose_frame(
    fill: np.ndarray, guess_small: np.ndarray, guess_full: np.ndarray, trust: float
) -> np.ndarray:
    """One frame: the full-resolution guess plus `trust` of the fill's change to the working-size
    guess."""
    height, width = guess_full.shape[:2]
    change = (fill.astype(np.float32) - guess_small) * np.float32(trust)
    magnitude = cv2.blur(np.abs(luma(change)), (3, 3))
    change *= _ramp_up(magnitude, CHANGE_FLOOR, CHANGE_FULL)
    if not change.any():
        return guess_full
    out = guess_full + cv2.resize(change, (width, height), interpolation=cv2.INTER_LINEAR)
    replaced = _ramp_up(magnitude, REPLACE_LOW, REPLACE_HIGH)
    if replaced.any():
        small_hw = (guess_small.shape[1], guess_small.shape[0])
        guess = guess_full.astype(np.float32)
        low_band = cv2.resize(
            cv2.resize(guess, small_hw, interpolation=cv2.INTER_AREA),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        replaced_full = cv2.resize(replaced, (width, height), interpolation=cv2.INTER_LINEAR)
        out -= replaced_full[..., None] * (guess - low_band)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def compose_to_source(
    filled_small: np.ndarray,
    small_guess: Guess,
    full_guess: Guess,
    change_tau: float = 0.0,
) -> np.ndarray:
    """Upscale a working-size fill (n,h,w,3) by adding its change to the full-resolution guess.

    small_guess: the guess the fill started from (working-size context); full_guess: the
    same guess from the full-resolution context. change_tau: the model's trust distance
    (MaltConfig.change_tau): frame k keeps 1 - exp(-d_k / change_tau) of the change, d_k frames
    from the nearest real frame; 0 keeps all of it. Returns (n,H,W,3) uint8.
    """
    if not isinstance(filled_small, np.ndarray) or filled_small.dtype != np.uint8:
        raise UserError("filled_small: expected a uint8 numpy array")
    if filled_small.ndim != 4 or filled_small.shape[-1] != 3 or len(filled_small) == 0:
        raise UserError(f"filled_small: expected shape (n, h, w, 3), got {filled_small.shape}")
    n_missing = len(filled_small)
    if small_guess.n_missing != n_missing or full_guess.n_missing != n_missing:
        raise UserError(
            f"filled_small: {n_missing} frames, but the guesses are for "
            f"{small_guess.n_missing} and {full_guess.n_missing}"
        )
    if small_guess.plate.shape[:2] != filled_small.shape[1:3]:
        raise UserError(
            f"filled_small: frames of {filled_small.shape[1:3]} but the working-size guess is "
            f"{small_guess.plate.shape[:2]}"
        )
    if change_tau > 0:
        has_before, has_after = len(small_guess.before) > 0, len(small_guess.after) > 0
        trust = plate_weights(n_missing, has_before, has_after, change_tau)
    else:
        trust = np.ones(n_missing, np.float32)
    height, width = full_guess.plate.shape[:2]
    out = np.empty((n_missing, height, width, 3), np.uint8)
    for first in range(0, n_missing, CHUNK):
        count = min(CHUNK, n_missing - first)
        guess_small, _ = small_guess.frames(first, count)
        guess_full, _ = full_guess.frames(first, count)
        for i in range(count):
            k = first + i
            out[k] = _compose_frame(filled_small[k], guess_small[i], guess_full[i], trust[k])
    return out
