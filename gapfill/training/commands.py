"""`gapfill train`: train MALT or fine-tune a camera's model (registered in gapfill/cli.py).

torch and the model code are imported inside the command, so that `gapfill --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gapfill.errors import UserError

if TYPE_CHECKING:
    from gapfill.network.config import MaltConfig
    from gapfill.training.data import RealShot

DEFAULT_SYNTH_SEEDS = "100000-1099999"
MAX_MINUTES = 7 * 24 * 60.0  # a week: longer is a typo, and nan or inf never stop


def parse_seed_range(text: str) -> tuple[int, int] | None:
    """ "A-B" -> (A, B+1); "none" -> None (train on real clips only)."""
    if text.strip().lower() == "none":
        return None
    try:
        low, high = (int(part) for part in text.split("-", 1))
    except ValueError:
        raise UserError(f"--synth-seeds: expected A-B or none, got {text!r}") from None
    if high < low or low < 0:
        raise UserError(f"--synth-seeds: empty or negative range {text!r}")
    return low, high + 1


def parse_curriculum(text: str | None) -> tuple[tuple[int, int], ...] | None:
    """ "0:2,4000:4,12000:8" -> ((0, 2), (4000, 4), (12000, 8)); None keeps the default."""
    if not text:
        return None
    try:
        pairs = tuple(
            (int(step), int(unroll))
            for step, unroll in (item.split(":") for item in text.split(","))
        )
    except ValueError:
        raise UserError(f"--curriculum: expected STEP:UNROLL,..., got {text!r}") from None
    if pairs[0][0] != 0 or any(u < 1 for _, u in pairs) or list(pairs) != sorted(pairs):
        raise UserError(f"--curriculum: must start at step 0, ascending, unroll >= 1: {text!r}")
    return pairs


def model_sizes(tiny: bool, config_path: Path | None) -> MaltConfig:
    """The configuration a fresh model is built with: --config's file, or the tiny or the
    default sizes."""
    from gapfill.network.config import MaltConfig, read_config_file

    if config_path is not None:
        return read_config_file(config_path)
    return MaltConfig.tiny() if tiny else MaltConfig()


def train_on_clips(
    clip_paths: list[str],
    out: Path,
    stage: int,
    steps: int,
    synth_seeds: tuple[int, int] | None,
    config: MaltConfig,
    seed: int = 0,
    resume: bool = False,
    memory_noise: bool = True,
    batch: int = 4,
    lr: float | None = None,
    checkpoint_every: int = 200,
    curriculum: tuple[tuple[int, int], ...] | None = None,
    init: Path | None = None,
    extra_shots: list[RealShot] | None = None,
    device: str = "cpu",
    workers: int = 0,
    photos: bool = False,
    minutes: float | None = None,
    autoencoder: Path | None = None,
    echo: int = 1,
) -> Path:
    """Train one stage of a model of `config`'s sizes (model_sizes) on simulated scenes plus
    `clip_paths` and `extra_shots` (a camera's footage from the catalog,
    gapfill.training.finetune_footage); returns the exported checkpoint."""
    from gapfill.training.data import load_training_clips
    from gapfill.training.train import run_training
    from gapfill.training.train_options import TrainOptions

    if stage not in (1, 2):
        raise UserError(f"--stage: must be 1 or 2, got {stage}")
    if steps <= 0:
        raise UserError(f"--steps: must be positive, got {steps}")
    if autoencoder is not None and (stage != 2 or init is not None):
        raise UserError("--autoencoder: only for stage 2 from scratch (not stage 1, not --init)")
    if autoencoder is not None and not Path(autoencoder).is_dir():
        raise UserError(f"{autoencoder}: checkpoint folder not found")
    shots = [*load_training_clips(clip_paths, config), *(extra_shots or [])]
    options = TrainOptions(
        out=Path(out),
        stage=stage,
        steps=steps,
        seed=seed,
        batch=batch,
        lr=lr if lr is not None else (3e-4 if stage == 1 else 2e-4),
        checkpoint_every=checkpoint_every,
        memory_noise=memory_noise,
        curriculum=curriculum,
        init=Path(init) if init is not None else None,
        device=device,
        workers=workers,
        photos=photos,
        minutes=minutes,
        autoencoder=Path(autoencoder) if autoencoder is not None else None,
        echo=echo,
    )
    return run_training(options, config, synth_seeds, shots, resume)


def train(
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Training folder (checkpoints, log, export); with --finetune the default is "
        "DATA_DIR/models/CAMERA/TIME.",
    ),
    stage: int | None = typer.Option(
        None, "--stage", help="1: autoencoder; 2: denoiser and memory (default 1; --finetune: 2)."
    ),
    steps: int = typer.Option(2000, "--steps", help="Train until this many steps."),
    clips: list[str] = typer.Option(
        [], "--clips", help="Real training clip (file or registered name); repeat for more."
    ),
    synth_seeds: str | None = typer.Option(
        None,
        "--synth-seeds",
        help=f"Simulated camera seeds A-B, or none (default {DEFAULT_SYNTH_SEEDS}; "
        "--finetune: none, the camera's own footage only).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, data order and noise."),
    resume: bool = typer.Option(False, "--resume", help="Continue this stage from its checkpoint."),
    tiny: bool = typer.Option(
        False, "--tiny", help="The tiny test configuration (not with --finetune: the parent's)."
    ),
    no_memory_noise: bool = typer.Option(
        False, "--no-memory-noise", help="Ablation: no noise augmentation of the memory."
    ),
    batch: int = typer.Option(4, "--batch", help="Windows per step (stage 2 scales by unroll)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default by stage)."),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="Steps per checkpoint."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch."),
    device: str = typer.Option(
        "auto",
        "--device",
        help="Where the model trains: auto (the CUDA GPU when there is one), cpu or cuda. The "
        "footage pipeline and the random streams stay on the CPU.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Processes that make training footage ahead of the model (default: none on the "
        "CPU, where the model uses the cores; all cores but two on a GPU).",
    ),
    curriculum: str | None = typer.Option(
        None, "--curriculum", help="Stage 2 unroll by step, e.g. 0:2,4000:4,12000:8."
    ),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Start from this checkpoint folder's weights (fine-tuning; stage 1 trains its "
        "autoencoder, stage 2 its denoiser and memory). With --finetune: the parent (default: "
        "the camera's current model).",
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="A config.json with the model's sizes (MaltConfig fields, all of them, as a "
        "checkpoint's config.json has them); give both stages the same. Default: the shipped "
        "model's sizes.",
    ),
    photos: bool = typer.Option(
        False,
        "--photos",
        help="Also train on scenes made from the real photographs that install with "
        "scikit-image and Matplotlib (objects moving over a background, a mostly still camera).",
    ),
    camera: str | None = typer.Option(
        None, "--camera", help="Also train on this camera's good footage from the catalog."
    ),
    since: str | None = typer.Option(
        None, "--since", help="--camera: footage from this time (ISO 8601 or 6h, 2d)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="--camera: footage before this time (ISO 8601 or 6h, 2d)."
    ),
    finetune: bool = typer.Option(
        False,
        "--finetune",
        help="With --camera: fine-tune the camera's model (stage 2) on its footage and register "
        "the child model in the catalog as the camera's model.",
    ),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        help="Stop with a checkpoint after this many minutes of training (a GPU lease, a "
        "night's window); --resume continues from there, and --finetune registers the child "
        "as trained by then. --steps still paces the curriculum.",
    ),
    autoencoder: Path | None = typer.Option(
        None,
        "--autoencoder",
        help="Stage 2 from scratch: the autoencoder of this checkpoint folder (a stage-1 run's "
        "export, or one `python -m gapfill.training.publish --autoencoder-only` wrote) instead of "
        "OUT/stage1.pt.",
    ),
    echo: int = typer.Option(
        1,
        "--echo",
        help="Data echoing: each batch of footage trains this many consecutive steps (fresh "
        "noise each time), encoded once. Where making and encoding footage is most of a step "
        "(stage 2 on a CPU, any stage on a GPU) this buys more steps an hour.",
    ),
    adopt: str | None = typer.Option(
        None,
        "--adopt",
        help="--finetune: if-better (default): the child repairs the camera only if it fills "
        "holes cut in the camera's latest footage, held out of training, no worse than its "
        "parent; always: whatever those holes show. The child is registered either way.",
    ),
) -> None:
    """Train MALT: stage 1 the autoencoder, then stage 2 the denoiser with memory (same --out).

    Each checkpoint also writes OUT/export (EMA weights + config.json), a checkpoint that
    `gapfill fill --model OUT/export` and the exporters read. --camera adds that camera's good
    catalogued footage (scanned recordings, defects cut out); --finetune --camera trains a child
    of the camera's current model on it and makes the child the model that repairs the camera
    if it is no worse than its parent on the camera's latest footage, held out of training.
    """
    window = _footage_window(camera, since, until, finetune)
    curriculum_steps = parse_curriculum(curriculum)
    if minutes is not None and not 0 < minutes <= MAX_MINUTES:
        raise UserError(f"--minutes: must be above 0 and at most {MAX_MINUTES}, got {minutes}")
    if echo < 1:
        raise UserError(f"--echo: must be 1 or more, got {echo}")
    seeds = (
        None
        if synth_seeds is None and finetune
        else parse_seed_range(synth_seeds or DEFAULT_SYNTH_SEEDS)
    )
    if finetune:
        if stage not in (None, 2):
            raise UserError(f"--finetune: trains stage 2 only, not --stage {stage}")
        if resume:
            raise UserError("--resume: not with --finetune (a failed fine-tuning leaves nothing)")
        if photos:
            raise UserError("--photos: not with --finetune (a camera learns from its own footage)")
        if config_file is not None or tiny:
            flag = "--config" if config_file is not None else "--tiny"
            raise UserError(f"{flag}: not with --finetune (the parent brings its own sizes)")
        if autoencoder is not None:
            raise UserError("--autoencoder: not with --finetune (the parent brings its own)")
    elif adopt is not None:
        raise UserError("--adopt: only with --finetune")
    elif out is None:
        raise UserError("--out: required (only --finetune chooses its own folder)")
    elif config_file is not None and (tiny or init is not None):
        raise UserError("--config: not with --tiny or --init (they bring their own sizes)")

    import torch

    from gapfill.config import load_settings
    from gapfill.runtime.device import resolve_device, usable_cores

    torch.set_num_threads(threads)
    device = resolve_device(device)
    if workers is None:
        workers = 0 if device == "cpu" else max(1, usable_cores() - 2)
    elif workers < 0:
        raise UserError(f"--workers: must be 0 or more, got {workers}")
    if finetune:
        from gapfill.console import cli_actor
        from gapfill.training.finetune import FinetuneRequest, finetune_camera

        assert camera is not None  # _footage_window refuses --finetune without --camera
        request = FinetuneRequest(
            camera=camera,
            steps=steps,
            since=window[0],
            until=window[1],
            init=init,
            out=out,
            seed=seed,
            batch=batch,
            lr=lr,
            checkpoint_every=checkpoint_every,
            memory_noise=not no_memory_noise,
            curriculum=curriculum_steps,
            synth_seeds=seeds,
            clips=tuple(clips),
            device=device,
            workers=workers,
            minutes=minutes,
            echo=echo,
            adopt=adopt or "if-better",
        )
        result = finetune_camera(load_settings(), request, cli_actor())
        held_out = result.validation.held_out_frames if result.validation else 0
        typer.echo(
            f"fine-tuned {camera}: model {result.name} (id {result.model_id}, parent "
            f"{result.parent}) on {result.frames - held_out} frames of {result.recordings} "
            f"recordings ({held_out} more held out): {result.path}"
        )
        checked = result.validation.words() if result.validation else "not validated"
        if result.adopted:
            typer.echo(f"{camera} now repairs with {result.name} ({checked})")
        else:
            why = "too little footage to hold some out" if not result.validation else checked
            typer.echo(
                f"{camera} keeps its model: {why}; `--adopt always` adopts a child regardless"
            )
        return
    sizes = model_sizes(tiny, config_file)
    extra_shots = None
    if camera is not None:
        from gapfill.training.finetune import catalog_shots

        extra_shots = catalog_shots(load_settings(), camera, sizes, *window).shots
    assert out is not None
    export = train_on_clips(
        clips,
        out,
        stage or 1,
        steps,
        seeds,
        sizes,
        seed=seed,
        resume=resume,
        memory_noise=not no_memory_noise,
        batch=batch,
        lr=lr,
        checkpoint_every=checkpoint_every,
        curriculum=curriculum_steps,
        init=init,
        extra_shots=extra_shots,
        device=device,
        workers=workers,
        photos=photos,
        minutes=minutes,
        autoencoder=autoencoder,
        echo=echo,
    )
    typer.echo(f"trained stage {stage or 1}: {export}")


def _footage_window(
    camera: str | None, since: str | None, until: str | None, finetune: bool
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """--since/--until as UTC times, checked against --camera and --finetune."""
    from gapfill.times import parse_time

    if camera is None:
        if finetune:
            raise UserError("--finetune: needs --camera (the camera whose model to fine-tune)")
        if since is not None or until is not None:
            raise UserError("--since/--until: choose a camera's footage, so need --camera")
    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    if start is not None and end is not None and end <= start:
        raise UserError(f"--until: {until} is not after --since {since}")
    return start, end
