"""Composition of a working-size fill back to source resolution: the model's change, added to the
same first guess made at full resolution."""

from __future__ import annotations

import numpy as np
import pytest

from gapfill.errors import UserError
from gapfill.fill.baselines import FirstGuess
from gapfill.fill.compose import compose_to_source
from gapfill.fill.metrics import psnr, sharpness_ratio
from gapfill.media.frames import resize_frames

HEIGHT, WIDTH = 128, 192
SMALL = (HEIGHT // 2, WIDTH // 2)
LANE = slice(40, 72)  # rows the square moves along


def square_x(t: int) -> int:
    return 8 + 4 * t


def scene(frames: int = 24, seed: int = 3) -> np.ndarray:
    """Fine static texture (lost by any downscale) with a 32 px square moving 4 px per frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        video[t, LANE, square_x(t) : square_x(t) + 32] = (250, 250, 20)
    return video


def guesses(before: np.ndarray, after: np.ndarray, n: int) -> tuple[FirstGuess, FirstGuess]:
    empty = np.zeros((0, *SMALL, 3), np.uint8)
    small_before = resize_frames(before, SMALL) if len(before) else empty
    small_after = resize_frames(after, SMALL) if len(after) else empty
    return FirstGuess(small_before, small_after, n), FirstGuess(before, after, n)


def test_a_fill_that_keeps_its_guess_returns_the_full_resolution_guess_exactly() -> None:
    video = scene()
    before, after = video[:8], video[16:]
    small, full = guesses(before, after, 8)
    out = compose_to_source(small.frames(0, 8)[0], small, full)
    np.testing.assert_array_equal(out, full.frames(0, 8)[0])
    # Away from the lane nothing moves: the real full-resolution pixels, bit for bit.
    np.testing.assert_array_equal(out[:, :30], before[-1:, :30].repeat(8, axis=0))


def test_the_models_change_is_added_and_detail_is_kept() -> None:
    """The truth has an object that no context frame shows; a working-size fill that draws it
    gets it at full resolution, and the texture around it stays the real, sharp one."""
    still = scene(frames=1)[0]
    context = np.repeat(still[None], 4, axis=0)
    truth = context[:2].copy()
    truth[:, 80:120, 60:130] = (0, 0, 255)  # a blue object present only inside the hole
    small, full = guesses(context, context, 2)
    out = compose_to_source(resize_frames(truth, SMALL), small, full)
    assert np.abs(out[:, 88:112, 68:122].astype(int) - truth[:, 88:112, 68:122]).mean() < 8
    np.testing.assert_array_equal(out[:, :70], context[:2, :70])

    upscaled = resize_frames(resize_frames(truth, SMALL), (HEIGHT, WIDTH))
    assert psnr(out, truth) > psnr(upscaled, truth) + 5.0
    assert sharpness_ratio(out, truth) > 0.9 > 0.6 > sharpness_ratio(upscaled, truth)


def test_works_with_one_sided_context() -> None:
    video = scene()
    small, full = guesses(video[:8], video[:0], 4)
    out = compose_to_source(small.frames(0, 4)[0], small, full)
    np.testing.assert_array_equal(out[:, :30], video[7:8, :30].repeat(4, axis=0))


def test_mismatched_inputs_are_user_errors() -> None:
    video = scene(frames=4)
    small, full = guesses(video[:1], video[3:], 2)
    filled_small = small.frames(0, 2)[0]
    with pytest.raises(UserError, match="filled_small"):
        compose_to_source(filled_small.astype(np.float32), small, full)
    with pytest.raises(UserError, match="frames"):
        compose_to_source(filled_small[:1], small, full)
    with pytest.raises(UserError, match="working-size guess"):
        compose_to_source(resize_frames(filled_small, (32, 48)), small, full)


def test_the_change_is_trusted_more_the_farther_a_frame_is_from_real_footage() -> None:
    """change_tau: frame k keeps 1 - exp(-d_k / tau) of the model's change, d_k frames from the
    nearest real frame, so a 9-frame hole keeps least of it at its edges and most in its middle;
    tau = 0 keeps all of it everywhere."""
    still = scene(frames=1)[0]
    context = np.repeat(still[None], 4, axis=0)
    truth = np.repeat(still[None], 9, axis=0)
    truth[:, 80:120, 60:130] = (0, 0, 255)
    small, full = guesses(context, context, 9)
    filled_small = resize_frames(truth, SMALL)
    region = (slice(None), slice(88, 112), slice(68, 122))
    kept = compose_to_source(filled_small, small, full, change_tau=3.0)[region].astype(float)
    whole = compose_to_source(filled_small, small, full)[region].astype(float)
    moved = np.abs(kept - still[region[1:]]).mean(axis=(1, 2, 3))  # per frame
    share = moved / np.abs(whole - still[region[1:]]).mean(axis=(1, 2, 3))
    # Not exactly the weight: the guess's fine detail goes only where the change is large.
    expected = 1 - np.exp(-np.minimum(np.arange(1, 10), np.arange(9, 0, -1)) / 3.0)
    np.testing.assert_allclose(share, expected, atol=0.1)
    assert np.all(np.diff(share[:5]) > 0) and np.allclose(share, share[::-1])
    assert share[4] > 0.75 > 0.35 > share[0]
