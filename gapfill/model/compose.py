"""Bring a fill made at the model's small working size back to the source resolution.

Upscaling a 128-pixel fill to 720p blurs everything, yet on a fixed camera most of the frame is
static background whose real full-resolution pixels we already have in the context. So, per hole
frame k:

    static reference  ref_k = the background-plate filler at full resolution: the real neighbouring
                      frames near the span's edges, the per-pixel temporal median in the middle;
    static mask       m_k = static_context · agreement_k, where
                      static_context = 1 where the context's luma barely varies over time (its
                          temporal std, at working size, below STATIC_STD_LOW, falling to 0 at
                          STATIC_STD_HIGH), and
                      agreement_k = 1 where the fill agrees with ref_k at working size (mean
                          |difference| below AGREE_LOW, falling to 0 at AGREE_HIGH), so an object
                          that moves into a region during the hole keeps the fill's pixels;
                      the mask is shrunk by one working pixel, feathered (Gaussian) and upsampled
                      bilinearly, then stretched so its interior is exactly 0 or 1;
    output            out_k = m_k · ref_k + (1 - m_k) · upscale(fill_k).

Where m_k = 1 the output is exactly the reference's full-resolution pixels, bit for bit when the
real frames agree there. Works for any filler's output.
"""

from __future__ import annotations

import cv2
import numpy as np

from gapfill.errors import UserError
from gapfill.model.baselines import (
    PLATE_CONTEXT,
    PLATE_TAU,
    check_gap_inputs,
    hole_times,
    median_plate,
    plate_weights,
)
from gapfill.model.metrics import luma

# Thresholds in grey levels (luma, 0-255), measured at the working size.
STATIC_STD_LOW, STATIC_STD_HIGH = 1.5, 4.0
AGREE_LOW, AGREE_HIGH = 6.0, 14.0
FEATHER_SIGMA = 1.0  # working-size pixels
# After feathering, values below/above these become exactly 0/1 (a soft band stays in between).
MASK_FLOOR, MASK_CEIL = 0.1, 0.9


def _ramp_down(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 below `low`, 0 above `high`, linear in between."""
    return np.clip((high - values) / (high - low), 0.0, 1.0).astype(np.float32)


def _resize(image: np.ndarray, hw: tuple[int, int], interpolation: int) -> np.ndarray:
    if image.shape[:2] == hw:
        return image
    return cv2.resize(image, (hw[1], hw[0]), interpolation=interpolation)


def static_context_mask(
    before: np.ndarray, after: np.ndarray, small_hw: tuple[int, int]
) -> np.ndarray:
    """(h,w) float32 in [0,1]: 1 where the real context is static at working size."""
    context = np.concatenate([before[-PLATE_CONTEXT:], after[:PLATE_CONTEXT]], axis=0)
    if len(context) < 2:
        return np.ones(small_hw, np.float32)  # one frame says nothing about motion
    small = np.stack([luma(_resize(f, small_hw, cv2.INTER_AREA)) for f in context])
    return _ramp_down(small.std(axis=0), STATIC_STD_LOW, STATIC_STD_HIGH)


def _feather(mask_small: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Shrink, blur and upsample a working-size mask; interior values exactly 0 or 1. (H,W,1)."""
    shrunk = cv2.erode(mask_small, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    soft = cv2.GaussianBlur(shrunk, (0, 0), FEATHER_SIGMA, borderType=cv2.BORDER_REPLICATE)
    full = _resize(soft, out_hw, cv2.INTER_LINEAR)
    return np.clip((full - MASK_FLOOR) / (MASK_CEIL - MASK_FLOOR), 0.0, 1.0)[..., None]


def compose_to_source(
    filled_small: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Upscale a working-size fill (n,h,w,3) to out_hw = (H, W), keeping static regions sharp.

    `before`/`after` are the real full-resolution context frames (T,H,W,3), either may be empty.
    Returns (n,H,W,3) uint8.
    """
    if not isinstance(filled_small, np.ndarray) or filled_small.dtype != np.uint8:
        raise UserError("filled_small: expected a uint8 numpy array")
    if filled_small.ndim != 4 or filled_small.shape[-1] != 3 or len(filled_small) == 0:
        raise UserError(f"filled_small: expected shape (n, h, w, 3), got {filled_small.shape}")
    n_missing = len(filled_small)
    source_hw = check_gap_inputs(before, after, n_missing)
    out_hw = (int(out_hw[0]), int(out_hw[1]))
    if tuple(source_hw) != out_hw:
        raise UserError(f"out_hw: {out_hw} differs from the context frames' size {source_hw}")
    small_hw = filled_small.shape[1:3]

    plate = median_plate(before, after).astype(np.float32)
    plate_share = plate_weights(n_missing, len(before) > 0, len(after) > 0, PLATE_TAU)
    first = before[-1].astype(np.float32) if len(before) else None
    last = after[0].astype(np.float32) if len(after) else None
    static_context = static_context_mask(before, after, small_hw)

    out = np.empty((n_missing, *out_hw, 3), np.uint8)
    for k, t in enumerate(hole_times(n_missing)):
        # The background-plate filler's frame k, at full resolution.
        if first is not None and last is not None:
            neighbours = (1.0 - t) * first + t * last
        else:
            neighbours = first if first is not None else last
        reference = (1.0 - plate_share[k]) * neighbours + plate_share[k] * plate  # (H,W,3)

        fill = filled_small[k]
        reference_small = _resize(reference, small_hw, cv2.INTER_AREA)
        disagreement = np.abs(luma(fill) - luma(reference_small))
        disagreement = cv2.blur(disagreement, (3, 3))
        mask_small = static_context * _ramp_down(disagreement, AGREE_LOW, AGREE_HIGH)
        mask = _feather(mask_small, out_hw)  # (H,W,1)

        upscaled = _resize(fill, out_hw, cv2.INTER_CUBIC).astype(np.float32)
        blended = mask * reference + (1.0 - mask) * upscaled
        out[k] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
