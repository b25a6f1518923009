"""Composition of a working-size fill back to source resolution."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gapfill.errors import UserError
from gapfill.model.clips import resize_frames
from gapfill.model.compose import compose_to_source
from gapfill.model.metrics import psnr, sharpness_ratio

HEIGHT, WIDTH = 128, 192
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


def test_static_regions_are_the_real_pixels_and_moving_regions_the_fill() -> None:
    video = scene()
    before, truth, after = video[:8], video[8:16], video[16:]
    filled_small = resize_frames(truth, (HEIGHT // 2, WIDTH // 2))  # a perfect working-size fill
    out = compose_to_source(filled_small, before, after, (HEIGHT, WIDTH))
    assert out.shape == truth.shape and out.dtype == np.uint8

    # Away from the lane nothing moves: the full-resolution real pixels, bit for bit.
    np.testing.assert_array_equal(out[:, :30], before[-1:, :30].repeat(8, axis=0))
    np.testing.assert_array_equal(out[:, 82:], before[-1:, 82:].repeat(8, axis=0))

    # Inside the square (margin for the feathered edge) the upscaled fill, untouched.
    for k in range(8):
        upscaled = cv2.resize(filled_small[k], (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        x = square_x(8 + k)
        rows, cols = slice(LANE.start + 8, LANE.stop - 8), slice(x + 8, x + 24)
        np.testing.assert_array_equal(out[k, rows, cols], upscaled[rows, cols])

    # Overall: sharper and closer to the truth than plain upscaling.
    upscaled_all = resize_frames(filled_small, (HEIGHT, WIDTH))
    assert psnr(out, truth) > psnr(upscaled_all, truth) + 5.0
    # The lane (a quarter of the picture) moved in the context, so it stays upscaled and soft.
    assert sharpness_ratio(out, truth) > 0.7 > 0.4 > sharpness_ratio(upscaled_all, truth)


def test_an_object_appearing_in_a_static_region_keeps_the_fill() -> None:
    """The context is static everywhere, but the fill shows something new: the fill wins there."""
    still = scene(frames=1)[0]
    still[LANE] = scene(frames=1, seed=4)[0][LANE]  # the lane has no square at all
    context = np.repeat(still[None], 4, axis=0)
    truth = context[:2].copy()
    truth[:, 80:120, 60:130] = (0, 0, 255)  # a blue object present only inside the hole
    filled_small = resize_frames(truth, (HEIGHT // 2, WIDTH // 2))
    out = compose_to_source(filled_small, context, context, (HEIGHT, WIDTH))
    assert np.abs(out[:, 88:112, 68:122].astype(int) - truth[:, 88:112, 68:122]).max() <= 2
    np.testing.assert_array_equal(out[:, :70], context[:2, :70])


def test_works_with_one_sided_context() -> None:
    video = scene()
    filled_small = resize_frames(video[8:12], (HEIGHT // 2, WIDTH // 2))
    out = compose_to_source(filled_small, video[:8], video[:0], (HEIGHT, WIDTH))
    np.testing.assert_array_equal(out[:, :30], video[7:8, :30].repeat(4, axis=0))


def test_size_mismatch_is_a_user_error() -> None:
    video = scene(frames=4)
    filled_small = resize_frames(video[:2], (HEIGHT // 2, WIDTH // 2))
    with pytest.raises(UserError, match="out_hw"):
        compose_to_source(filled_small, video[:1], video[3:], (HEIGHT * 2, WIDTH * 2))
    with pytest.raises(UserError, match="filled_small"):
        compose_to_source(filled_small.astype(np.float32), video[:1], video[3:], (HEIGHT, WIDTH))
