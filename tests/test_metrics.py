"""Quality metrics against values known by construction."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from gapfill.fill.metrics import (
    luma,
    moving_mask,
    moving_psnr,
    psnr,
    seam_jump,
    sharpness_ratio,
    span_metrics,
    ssim,
)


def textured(frames: int = 3, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(frames, height, width, 3), dtype=np.uint8)


def test_luma_uses_bt601_weights() -> None:
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    np.testing.assert_allclose(luma(pixels), [76.245, 149.685, 29.07, 255.0], rtol=1e-5)


def test_psnr_of_identical_is_infinite_and_of_a_known_error_is_exact() -> None:
    truth = textured()
    assert psnr(truth, truth) == math.inf
    grey = np.full((2, 16, 16, 3), 100, np.uint8)
    off_by_ten = grey + np.uint8(10)  # luma differs by exactly 10 everywhere: MSE 100
    assert psnr(off_by_ten, grey) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)


def test_ssim_of_identical_is_one_and_drops_with_noise() -> None:
    truth = textured()
    assert ssim(truth, truth) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    noisy = np.clip(truth + rng.normal(0, 40, truth.shape), 0, 255).astype(np.uint8)
    assert ssim(noisy, truth) < 0.9


def test_a_blurred_fill_is_less_sharp_and_a_noisy_one_sharper() -> None:
    truth = textured(height=64, width=64)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in truth])
    assert sharpness_ratio(truth, truth) == pytest.approx(1.0)
    assert sharpness_ratio(blurred, truth) < 0.5
    smooth_truth = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in truth])
    assert sharpness_ratio(truth, smooth_truth) > 2.0


def test_seam_jump_is_one_for_the_truth_and_large_for_a_frozen_fill() -> None:
    # A horizontal ramp scrolling 1 px per frame: every real frame-to-frame change is the same.
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8)[None, :, None], (32, 1, 3))
    video = np.stack([np.roll(ramp, t, axis=1) for t in range(20)])
    before, truth, after = video[:5], video[5:15], video[15:]
    assert seam_jump(before, truth, truth, after) == pytest.approx(1.0)
    frozen = np.repeat(before[-1:], 10, axis=0)  # no change at the first edge, all at the second
    assert seam_jump(before, frozen, truth, after) > 3.0
    # One-sided context measures the one edge it has.
    assert seam_jump(before, truth, truth, after[:0]) == pytest.approx(1.0)


def test_span_metrics_reports_all_five() -> None:
    video = textured(frames=6)
    figures = span_metrics(video[:2], video[2:4], video[2:4], video[4:])
    assert set(figures) == {"psnr", "ssim", "sharpness", "seam_jump", "moving_psnr"}
    assert figures["psnr"] == math.inf and figures["ssim"] == pytest.approx(1.0)


def test_moving_psnr_looks_only_where_the_truth_leaves_the_plate() -> None:
    background = textured(frames=1)[0]
    truth = np.repeat(background[None], 4, axis=0)
    truth[:, 4:10, 4:10] = 255  # a bright patch: the only moving part
    still = np.repeat(background[None], 4, axis=0)  # a fill that only knows the background
    plate = background
    mask = moving_mask(truth, plate)
    assert mask.sum() == 4 * 36
    # Whole-frame PSNR forgives the missing patch; inside the mask it is the whole error.
    assert moving_psnr(still, truth, plate) < psnr(still, truth) - 10
    assert moving_psnr(truth, truth, plate) == math.inf
    assert math.isnan(moving_psnr(still, still, plate))  # nothing moves: undefined


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(textured(frames=2), textured(frames=3))
