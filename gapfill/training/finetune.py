"""`gapfill train --finetune --camera C`: a child of the camera's model, tuned on its own footage.

Order, so that a failure at any point leaves nothing half-made under a final name and nothing
registered:
1. everything the user can get wrong is checked before training (camera, parent checkpoint and its
   configuration, footage in the window, enough of it for the longest training window);
2. stage 2 runs from the parent's weights (TrainOptions.init) in a hidden temporary folder beside
   the final one, removed if training fails;
3. parent and child fill holes cut in the camera's latest footage, held out of training
   (gapfill.training.finetune_validation);
4. the folder is renamed to its final name (same directory: atomic), then one transaction
   registers the parent (if new) and the child with its training summary (validation figures
   included) and a `model` provenance event, and points camera.default_model_id at the child if
   it is adopted: not worse than the parent on the held-out holes, or `--adopt always`. If that
   transaction fails the folder is removed again.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapfill.catalog.db import Catalog, open_catalog
from gapfill.catalog.models import Model
from gapfill.catalog.queries.cameras import camera_by_name
from gapfill.checkpoint_registry import configured_checkpoint, register_model
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.network.checkpoint import checkpoint_sha256
from gapfill.network.config import WEIGHTS_NAME, MaltConfig, read_config
from gapfill.training.data import TARGET_FPS, RealShot, load_training_clips
from gapfill.training.finetune_footage import Footage, camera_footage
from gapfill.training.finetune_validation import HeldOut, Validation, hold_out, validate
from gapfill.training.train_options import TrainOptions, largest_unroll

STAGE2_LR = 2e-4  # the stage 2 rate of `gapfill train`; warm-up keeps the first steps gentle
ADOPT_CHOICES = ("if-better", "always")

log = logging.getLogger("gapfill.tuning")


@dataclass(frozen=True)
class FinetuneRequest:
    camera: str
    steps: int
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    init: Path | None = None  # parent checkpoint; default the camera's current model
    out: Path | None = None  # default data_dir/models/<camera>/<UTC time>
    seed: int = 0
    batch: int = 4
    lr: float | None = None
    checkpoint_every: int = 200
    memory_noise: bool = True
    curriculum: tuple[tuple[int, int], ...] | None = None
    synth_seeds: tuple[int, int] | None = None  # fine-tuning: the camera's own footage only
    clips: tuple[str, ...] = ()
    device: str = "cpu"  # torch device to train on (gapfill.runtime.device.resolve_device)
    workers: int = 0  # processes making footage ahead of the model (footage_stream.py)
    minutes: float | None = None  # a night's window: the child is what training reached by then
    echo: int = 1  # steps per batch of footage (TrainOptions.echo)
    # "if-better": the child repairs the camera only if held-out holes show it no worse than the
    # parent (an unvalidated child is not adopted); "always": it does, whatever they show.
    adopt: str = "if-better"


@dataclass(frozen=True)
class FinetuneResult:
    model_id: int
    name: str
    path: Path
    parent: str
    frames: int
    recordings: int
    adopted: bool
    validation: Validation | None


def catalog_shots(
    settings: Settings,
    camera: str,
    config: MaltConfig,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Footage:
    """The camera's good footage from the configured catalog (for `gapfill train --camera`)."""
    with open_catalog(settings) as catalog:
        return camera_footage(catalog, camera, config, since, until)


def finetune_camera(settings: Settings, request: FinetuneRequest, actor: str) -> FinetuneResult:
    """Train and register a child model for `request.camera`; see the module's order."""
    # torch: only once it is needed
    from gapfill.training.train import run_training, trained_steps

    if request.steps <= 0:
        raise UserError(f"--steps: must be positive, got {request.steps}")
    if request.adopt not in ADOPT_CHOICES:
        raise UserError(
            f"--adopt: must be one of {', '.join(ADOPT_CHOICES)}, got {request.adopt!r}"
        )
    with open_catalog(settings) as catalog:
        parent = _parent_folder(catalog, settings, request)
        config = read_config(parent)  # the child has its parent's sizes, whatever they are
        parent_sha = checkpoint_sha256(parent)
        footage = camera_footage(catalog, request.camera, config, request.since, request.until)
        unroll, window_frames = longest_window(config, request.steps, request.curriculum)
        _check_window(footage.shots, request.camera, unroll, window_frames)
        trained, held_out = _split(footage.shots, config, window_frames)
        shots: list[RealShot] = [*load_training_clips(list(request.clips), config), *trained]
        final = _final_folder(settings, request)
        # Hidden, unique and beside the final folder (one rename); mkdir keeps the umask's modes.
        work = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:12]}"
        work.mkdir()
        options = TrainOptions(
            out=work,
            stage=2,
            steps=request.steps,
            seed=request.seed,
            batch=request.batch,
            lr=request.lr if request.lr is not None else STAGE2_LR,
            checkpoint_every=request.checkpoint_every,
            memory_noise=request.memory_noise,
            curriculum=request.curriculum,
            init=parent,
            device=request.device,
            workers=request.workers,
            minutes=request.minutes,
            echo=request.echo,
        )
        try:
            run_training(options, config, request.synth_seeds, shots, resume=False)
            steps = trained_steps(work, 2)
            validation = (
                None
                if held_out is None
                else validate(held_out, parent, work / "export", request.seed, request.device)
            )
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        adopt = request.adopt == "always" or (
            validation is not None and validation.child_is_not_worse
        )
        summary = _summary(request, footage, parent, parent_sha, final, steps)
        # Not whether it was adopted: that is the camera's pointer, which a later run may change.
        summary["validation"] = validation.summary() if validation is not None else None
        try:
            return _register(
                catalog, request.camera, parent, final, summary, actor, adopt, validation
            )
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise


def _parent_folder(catalog: Catalog, settings: Settings, request: FinetuneRequest) -> Path:
    """--init, else the model that repairs the camera now (its child, else the configured one)."""
    with catalog.session() as session:
        camera = camera_by_name(session, request.camera)
        if camera is None:
            raise UserError(f"--camera: no camera named {request.camera!r} in the catalog")
        current = session.get(Model, camera.default_model_id) if camera.default_model_id else None
    if request.init is not None:
        folder = Path(request.init)
    elif current is not None and Path(current.path).is_dir():
        folder = Path(current.path)
    else:
        return configured_checkpoint(settings)  # refuses a missing or broken one in one line
    if not (folder / WEIGHTS_NAME).is_file():
        raise UserError(f"{folder}: parent checkpoint not found (needs {WEIGHTS_NAME})")
    return folder


def longest_window(config: MaltConfig, steps: int, curriculum: Any) -> tuple[int, int]:
    """(unroll, frames) of the longest window stage 2 asks for in `steps` steps: n_context
    segments + a hole of at most n_gap segments + one anchor segment (gap_example)."""
    unroll = largest_unroll(steps, curriculum)
    return unroll, config.segment_frames * (unroll + 1)


def _split(
    shots: list[RealShot], config: MaltConfig, window_frames: int
) -> tuple[list[RealShot], HeldOut | None]:
    """(shots to train on, held-out frames to validate on); all shots and no validation when
    holding frames out would leave no shot long enough for a training window."""
    trained, held_out = hold_out(shots, config)
    if held_out is None or not _long_enough(trained, window_frames):
        return shots, None
    return trained, held_out


def _needed(shot: RealShot, frames: int) -> int:
    """Frames of `shot` a training window of `frames` frames spans."""
    # FootageSampler subsamples towards TARGET_FPS; its smallest stride is one below the base.
    stride = max(1, max(1, round(shot.fps / TARGET_FPS)) - 1)
    return (frames - 1) * stride + 1


def _long_enough(shots: list[RealShot], window_frames: int) -> bool:
    return any(len(shot.frames) >= _needed(shot, window_frames) for shot in shots)


def _check_window(shots: list[RealShot], camera: str, unroll: int, window_frames: int) -> None:
    if not _long_enough(shots, window_frames):
        longest = max(shots, key=lambda s: len(s.frames))
        raise UserError(
            f"--camera {camera}: too little good footage: the longest unbroken shot has "
            f"{len(longest.frames)} frames, a training window of {unroll} segments needs "
            f"{_needed(longest, window_frames)} at {longest.fps:g} fps (give a longer "
            "--since/--until window)"
        )


def _final_folder(settings: Settings, request: FinetuneRequest) -> Path:
    if request.out is not None:
        out = Path(request.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f"{out}: --out exists and is not an empty folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    base = settings.data_dir / "models" / request.camera
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder, n = base / stamp, 1
    while folder.exists():  # two fine-tunings in one second
        n += 1
        folder = base / f"{stamp}-{n}"
    return folder


def _summary(
    request: FinetuneRequest,
    footage: Footage,
    parent: Path,
    parent_sha: str,
    final: Path,
    steps: int,
) -> dict[str, Any]:
    return {
        "kind": "finetune",
        "parent_sha256": parent_sha,
        "parent_path": str(parent.resolve()),
        "window": {
            "since": request.since.isoformat() if request.since else None,
            "until": request.until.isoformat() if request.until else None,
        },
        **footage.summary(),
        "clips": list(request.clips),
        "synth_seeds": list(request.synth_seeds) if request.synth_seeds else None,
        "steps": steps,  # reached; fewer than asked when the minutes ran out
        "steps_asked": request.steps,
        "minutes": request.minutes,
        "echo": request.echo,
        "seed": request.seed,
        "batch": request.batch,
        "lr": request.lr if request.lr is not None else STAGE2_LR,
        "memory_noise": request.memory_noise,
        "curriculum": [list(p) for p in request.curriculum] if request.curriculum else None,
        "training_folder": str(final.resolve()),
    }


def _register(
    catalog: Catalog,
    camera_name: str,
    parent: Path,
    final: Path,
    summary: dict[str, Any],
    actor: str,
    adopt: bool,
    validation: Validation | None,
) -> FinetuneResult:
    with catalog.session() as session:
        camera = camera_by_name(session, camera_name)
        if camera is None:  # removed while training ran
            raise UserError(f"--camera: no camera named {camera_name!r} in the catalog")
        parent_model = register_model(session, parent, actor)
        child = register_model(
            session,
            final / "export",
            actor,
            name=f"{camera_name}-{final.name}",
            parent=parent_model,
            camera=camera,
            training_summary=summary,
        )
        if adopt:
            camera.default_model_id = child.id
        log.info(
            "fine-tuned model %s %s camera %s",
            child.name,
            "repairs" if adopt else "does not repair",
            camera_name,
            extra={
                "camera": camera_name,
                "model_id": child.id,
                "validation": summary["validation"],
            },
        )
        return FinetuneResult(
            child.id,
            child.name,
            Path(child.path),
            parent_model.name,
            summary["frames"],
            len(summary["recordings"]),
            adopt,
            validation,
        )
