"""`fill_gap`: the library call that predicts the frames missing between real footage.

    from gapfill.fill.fill_gap import fill_gap
    frames = fill_gap(before, after, n_missing, fps)  # (n_missing, H, W, 3) uint8

The context is shrunk to the model's working size, MALT fills the hole there segment by segment,
starting each segment from a first guess (gapfill.fill.first_guess.MotionGuess: flow near the
edges, the background plate, and what moves kept moving), and
the change it makes to that guess is added to the same guess made at the source resolution
(gapfill.fill.compose), so that whatever the guess gets right stays as sharp as the real footage.
The change is kept only where it pays on this footage (gapfill.fill.context_check): else the
full-resolution guess alone is the fill.

`fill_hole` is the same call that also says which of the two the frames are, and the check's
figures: the repair records that in the clip's provenance, so an auditor can tell a learned fill
from the classical first guess without re-running anything.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gapfill.errors import UserError
from gapfill.fill.baselines import check_gap_inputs
from gapfill.fill.compose import compose_to_source
from gapfill.fill.context_check import pseudo_hole_errors
from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.generate import DEFAULT_CONTEXT_SEGMENTS, fill_working
from gapfill.media.frames import resize_frames
from gapfill.network.config import default_checkpoint_dir
from gapfill.runtime import select_backend
from gapfill.runtime.backend import Backend

if TYPE_CHECKING:
    from gapfill.network.malt import Malt

log = logging.getLogger("gapfill.fill")

# The largest output fill_gap agrees to build in memory (the frames it returns): 4 GiB.
DEFAULT_MEMORY_BUDGET = 4 << 30


@functools.lru_cache(maxsize=4)
def _load_backend(folder: str, stamp: tuple[float, ...], kind: str, device: str) -> Backend:
    # `stamp` is part of the cache key: a checkpoint or export rewritten in place is loaded again.
    return select_backend(kind, Path(folder), device=device)


def _stamp(folder: Path) -> tuple[float, ...]:
    """Modification times of the files that decide what select_backend loads from `folder`."""
    names = (
        "model.safetensors",
        "manifest.json",
        "onnx/manifest.json",
        "onnx/tensorrt/manifest.json",
        "tensorrt/manifest.json",
    )
    return tuple((folder / n).stat().st_mtime if (folder / n).is_file() else 0.0 for n in names)


def resolve_backend(
    model: str | Path | Malt | Backend | None, backend: str = "auto", device: str = "auto"
) -> Backend:
    """None: the shipped checkpoint; a folder: that checkpoint or export; a Malt; or a backend.

    For a folder, `backend` ("auto", "torch", "onnx", "tensorrt") and `device` ("auto", "cpu",
    "cuda") choose the inference engine (gapfill.runtime.select_backend); a Malt module always
    runs on eager torch, and a backend object is used as it is.
    """
    if model is None or isinstance(model, str | Path):
        folder = Path(model) if model is not None else default_checkpoint_dir()
        return _load_backend(str(folder), _stamp(folder), backend, device)
    if hasattr(model, "denoise") and hasattr(model, "config") and hasattr(model, "initial_memory"):
        if hasattr(model, "autoencoder"):  # a Malt module
            from gapfill.runtime.torch_backend import TorchBackend

            return TorchBackend(model)
        return model  # already a backend
    raise UserError(
        f"model: expected a checkpoint folder, a Malt model or a backend, got {model!r}"
    )


# What a fill is made of (FilledHole.model_change):
KEPT = "kept"  # the model's change on the first guess; it beat the guess on the pseudo-hole
DROPPED = "dropped"  # the first guess alone; the change lost on the pseudo-hole
NO_CHECK_CONTEXT = "no-check-context"  # the first guess alone; too little footage to check on
UNCHECKED = "unchecked"  # the model's change, kept without a check (check_change=False)
_MODEL_CHANGE_MEANING = {
    KEPT: "learned change kept (it beat the first guess on this camera's footage)",
    DROPPED: "first guess alone (the learned change lost to it on this camera's footage)",
    NO_CHECK_CONTEXT: "first guess alone (too little footage before the gap to check the model)",
    UNCHECKED: "learned change, not checked against the first guess",
}


def describe_model_change(value: object) -> str:
    """What a clip's `model_change` parameter means, for people (the review page, the sheet)."""
    if value is None:
        return "not recorded (the clip was made before gapfill recorded it)"
    return _MODEL_CHANGE_MEANING.get(str(value), f"unknown ({value})")


@dataclass(frozen=True)
class FilledHole:
    """The predicted frames and what made them.

    model_change: KEPT, DROPPED, NO_CHECK_CONTEXT or UNCHECKED (above).
    model_mse, guess_mse: mean squared luma error of the model's fill and of the guess alone on
    the pseudo-hole (gapfill.fill.context_check); None where it was not run.
    """

    frames: np.ndarray  # (n_missing, H, W, 3) uint8
    model_change: str
    model_mse: float | None = None
    guess_mse: float | None = None

    def facts(self) -> dict[str, object]:
        """JSON-ready record of the verdict, for a clip's provenance parameters."""
        facts: dict[str, object] = {"model_change": self.model_change}
        if self.model_mse is not None and self.guess_mse is not None:
            facts["check_model_mse"] = round(float(self.model_mse), 4)
            facts["check_guess_mse"] = round(float(self.guess_mse), 4)
        return facts


def fill_gap(
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    fps: float,
    model: str | Path | Malt | Backend | None = None,
    seed: int = 0,
    *,
    steps: int | None = None,
    context_segments: int = DEFAULT_CONTEXT_SEGMENTS,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    backend: str = "auto",
    device: str = "auto",
    check_change: bool = True,
) -> np.ndarray:
    """Predict the `n_missing` frames between `before` and `after`.

    before, after: uint8 RGB (T, H, W, 3) real frames just before and just after the hole; either
    may be empty (T = 0), not both; both at the same H, W. fps: the footage's nominal rate.
    model: checkpoint folder, Malt model or backend (None: the shipped default). seed: sampling
    seed; the same seed gives the same frames on the same backend. backend, device: the inference
    engine for a folder (see resolve_backend; "auto" is the fastest available here).
    check_change: keep the model's change to the first guess only if it pays on a stretch of this
    footage where the answer is known (gapfill.fill.context_check); False keeps it always (to
    compare backends, or to measure the model itself).
    Returns (n_missing, H, W, 3) uint8; `fill_hole` also says whether the model's change is in it.
    """
    return fill_hole(
        before,
        after,
        n_missing,
        fps,
        model,
        seed,
        steps=steps,
        context_segments=context_segments,
        memory_budget=memory_budget,
        backend=backend,
        device=device,
        check_change=check_change,
    ).frames


def fill_hole(
    before: np.ndarray,
    after: np.ndarray,
    n_missing: int,
    fps: float,
    model: str | Path | Malt | Backend | None = None,
    seed: int = 0,
    *,
    steps: int | None = None,
    context_segments: int = DEFAULT_CONTEXT_SEGMENTS,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    backend: str = "auto",
    device: str = "auto",
    check_change: bool = True,
) -> FilledHole:
    """`fill_gap`, with what made the frames: see FilledHole. Same arguments, same frames."""
    height, width = check_gap_inputs(before, after, n_missing)
    n_missing = int(n_missing)
    if not isinstance(fps, int | float | np.floating) or not math.isfinite(fps) or fps <= 0:
        raise UserError(f"fps: must be a positive number, got {fps!r}")
    needed = n_missing * height * width * 3
    if needed > memory_budget:
        raise UserError(
            f"n_missing: {n_missing} frames of {width}x{height} need {needed / 2**30:.1f} GiB, "
            f"over the {memory_budget / 2**30:.1f} GiB budget; fill the span in parts"
        )
    engine = resolve_backend(model, backend, device)
    config = engine.config
    # Only the context the model reads is shrunk: the memory's segments and the plate's frames.
    keep = max(context_segments * config.segment_frames, 32)
    small = (config.height, config.width)
    before_small = resize_frames(before[-keep:], small) if len(before) else _empty(small)
    after_small = resize_frames(after[:32], small) if len(after) else _empty(small)
    # The guess reads up to 32 frames after the hole (the periodic layer checks its periods
    # there); the model's anchor is the first segment of them.
    full_guess = MotionGuess(before[-keep:], after[:32], n_missing)
    errors = None
    if check_change:
        errors = pseudo_hole_errors(engine, before_small, seed, steps, context_segments)
    model_mse, guess_mse = errors if errors is not None else (None, None)
    verdict = _verdict(check_change, model_mse, guess_mse)
    if verdict in (DROPPED, NO_CHECK_CONTEXT):
        log.debug("model change dropped (%s): the first guess alone is the fill", verdict)
        return FilledHole(full_guess.frames(0, n_missing)[0], verdict, model_mse, guess_mse)
    small_guess = MotionGuess(before_small, after_small, n_missing)
    filled_small = fill_working(
        engine,
        before_small,
        after_small,
        n_missing,
        seed,
        steps,
        context_segments,
        first_guess=small_guess,
    )
    frames = compose_to_source(filled_small, small_guess, full_guess, config.change_tau)
    return FilledHole(frames, verdict, model_mse, guess_mse)


def _verdict(check_change: bool, model_mse: float | None, guess_mse: float | None) -> str:
    if not check_change:
        return UNCHECKED
    if model_mse is None or guess_mse is None:
        return NO_CHECK_CONTEXT
    return KEPT if model_mse < guess_mse else DROPPED


def _empty(hw: tuple[int, int]) -> np.ndarray:
    return np.zeros((0, *hw, 3), np.uint8)
