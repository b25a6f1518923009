"""Quality of a filled span against the footage that was cut out, measured at source resolution.

All metrics work on luma, Y = 0.299·R + 0.587·G + 0.114·B (ITU-R BT.601 weights, full range,
float in [0, 255]), because that is where the eye sees detail and what video codecs keep sharpest.
Frames are uint8 RGB arrays (T,H,W,3); a span's fill and truth have the same shape.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Seam jump: the real frame-to-frame change below this (grey levels) counts as this much, so that
# a nearly static scene does not turn a sub-grey-level seam into a huge ratio.
SEAM_FLOOR = 1.0
# Moving parts: pixels where the truth's luma differs from the context's median plate by more than
# this many grey levels. The simulated cameras' sensor noise is 2.5-3.5 grey levels per channel and
# vtest.avi's compression noise about as much, so 20 marks the belt, the wheel, lit lamps and
# people, not noise; the plate comes from the same 32+32 context frames the fillers see.
MOVING_THRESHOLD = 20.0
MOVING_CONTEXT = 32


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB (...,3) frames as float32 (...), range [0, 255]."""
    return frames.astype(np.float32) @ BT601


def _check_pair(fill: np.ndarray, truth: np.ndarray) -> None:
    if fill.shape != truth.shape:
        raise ValueError(f"fill {fill.shape} and truth {truth.shape} differ in shape")
    if fill.ndim != 4 or fill.shape[-1] != 3 or len(fill) == 0:
        raise ValueError(f"expected non-empty (T, H, W, 3) frames, got {fill.shape}")


def luma_mse(fill: np.ndarray, truth: np.ndarray) -> float:
    """Mean over every frame and pixel of (Y_fill - Y_truth)², in grey levels squared."""
    _check_pair(fill, truth)
    return float(np.mean((luma(fill) - luma(truth)) ** 2, dtype=np.float64))


def psnr(fill: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio of the span, in dB, on luma.

    PSNR = 10·log10(255² / MSE), MSE = mean over every frame and pixel of (Y_fill - Y_truth)².
    Pooling the MSE over the span (instead of averaging per-frame PSNR) keeps one perfect frame
    from making the span infinite. Identical spans give +inf.
    """
    mse = luma_mse(fill, truth)
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)


def ssim(fill: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity on luma, mean over the span's frames (1.0 = identical).

    Per frame, the SSIM of Wang et al. (2004): Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03,
    L = 255, population covariances; SSIM = mean over pixels of
    ((2·μx·μy + C1)(2·σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = (K1·L)², C2 = (K2·L)².
    Computed by scikit-image's `structural_similarity`.
    """
    _check_pair(fill, truth)
    fill_y, truth_y = luma(fill), luma(truth)
    scores = [
        structural_similarity(
            f,
            t,
            data_range=255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for f, t in zip(fill_y, truth_y, strict=True)
    ]
    return float(np.mean(scores))


def gradient_energy(frames: np.ndarray) -> float:
    """Mean over frames and pixels of |∇Y|² (forward differences in x and y), in grey levels²."""
    y = luma(frames)
    grad_x = np.diff(y, axis=-1)[..., :-1, :]
    grad_y = np.diff(y, axis=-2)[..., :, :-1]
    return float(np.mean(grad_x**2 + grad_y**2, dtype=np.float64))


def sharpness_ratio(fill: np.ndarray, truth: np.ndarray) -> float:
    """Gradient energy of the fill over the truth's: E(fill) / E(truth).

    1.0 = as much fine detail as the real footage; a blurry average or a fade scores below 1; noise
    or ghosted double edges score above 1. A flat truth (E = 0) gives 1.0 if the fill is flat too,
    else +inf.
    """
    _check_pair(fill, truth)
    fill_energy, truth_energy = gradient_energy(fill), gradient_energy(truth)
    if truth_energy == 0.0:
        return 1.0 if fill_energy == 0.0 else float("inf")
    return fill_energy / truth_energy


def _mean_abs_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(luma(a) - luma(b)), dtype=np.float64))


def seam_jump(before: np.ndarray, fill: np.ndarray, truth: np.ndarray, after: np.ndarray) -> float:
    """How much bigger the change across the span's edges is than the real change there.

    For each edge that has real footage (before[-1] -> first hole frame, last hole frame ->
    after[0]), the filled change is mean|Y_a - Y_b| with the fill, the real change the same with
    the truth. seam_jump = Σ filled change / max(Σ real change, SEAM_FLOOR · edges).
    1.0 = the edges look like ordinary motion; 3.0 = the cut is three times the real motion (a
    visible jump); a fill that moves less than reality at its edges scores below 1.
    """
    _check_pair(fill, truth)
    filled_change, real_change, edges = 0.0, 0.0, 0
    if len(before):
        filled_change += _mean_abs_change(before[-1], fill[0])
        real_change += _mean_abs_change(before[-1], truth[0])
        edges += 1
    if len(after):
        filled_change += _mean_abs_change(fill[-1], after[0])
        real_change += _mean_abs_change(truth[-1], after[0])
        edges += 1
    if edges == 0:
        raise ValueError("seam jump needs real footage on at least one side")
    return filled_change / max(real_change, SEAM_FLOOR * edges)


def context_plate(
    before: np.ndarray, after: np.ndarray, context: int = MOVING_CONTEXT
) -> np.ndarray:
    """Per-pixel temporal median of the last/first `context` frames around a span: (H,W,3) uint8
    (the background plate of gapfill.fill.baselines.median_plate)."""
    frames = np.concatenate([before[-context:], after[:context]], axis=0)
    return np.median(frames, axis=0).astype(np.uint8)


def moving_mask(
    truth: np.ndarray, plate: np.ndarray, threshold: float = MOVING_THRESHOLD
) -> np.ndarray:
    """(T,H,W) bool: the truth's moving parts, where its luma is more than `threshold` grey levels
    from the plate's (what a filler that only knows the static scene gets wrong)."""
    return np.abs(luma(truth) - luma(plate)[None]) > threshold


def moving_psnr(
    fill: np.ndarray, truth: np.ndarray, plate: np.ndarray, threshold: float = MOVING_THRESHOLD
) -> float:
    """PSNR on luma inside the moving-parts mask only (`moving_mask`), in dB.

    The same formula as `psnr` with the MSE pooled over the masked pixels of every frame. Where the
    whole picture is dominated by a static background, this is where fillers differ: the plate
    scores low here even when its whole-frame PSNR is high. NaN when nothing moves in the span.
    """
    _check_pair(fill, truth)
    mask = moving_mask(truth, plate, threshold)
    if not mask.any():
        return float("nan")
    mse = float(np.mean((luma(fill)[mask] - luma(truth)[mask]) ** 2, dtype=np.float64))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)


def span_metrics(
    before: np.ndarray,
    fill: np.ndarray,
    truth: np.ndarray,
    after: np.ndarray,
    plate: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of one filled span: psnr (dB), ssim, sharpness, seam_jump and moving_psnr (dB,
    NaN when nothing moves). plate: the context's median plate (`context_plate`), computed here
    when not given; pass it to measure several fills of one span without recomputing it."""
    if plate is None:
        plate = context_plate(before, after)
    return {
        "psnr": psnr(fill, truth),
        "ssim": ssim(fill, truth),
        "sharpness": sharpness_ratio(fill, truth),
        "seam_jump": seam_jump(before, fill, truth, after),
        "moving_psnr": moving_psnr(fill, truth, plate),
    }
