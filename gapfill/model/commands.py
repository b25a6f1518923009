"""`gapfill train` and `gapfill fill`: the model's two commands (registered in gapfill/cli.py).

torch and the model code are imported inside the commands, so that `gapfill --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gapfill.errors import UserError


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


def train_on_clips(
    clip_paths: list[str],
    out: Path,
    stage: int,
    steps: int,
    synth_seeds: tuple[int, int] | None,
    seed: int = 0,
    resume: bool = False,
    tiny: bool = False,
    memory_noise: bool = True,
    batch: int = 4,
    lr: float | None = None,
    checkpoint_every: int = 200,
    curriculum: tuple[tuple[int, int], ...] | None = None,
) -> Path:
    """Train one stage on simulated scenes plus `clip_paths`; returns the exported checkpoint.

    The seam for catalog-driven training: `gapfill train --camera C --since T` resolves the
    camera's good recordings to paths and calls this (fine-tuning passes the default model's
    training folder as `out` with stage 2 and resume).
    """
    from gapfill.model.config import MaltConfig
    from gapfill.model.data import load_training_clips
    from gapfill.model.train import TrainOptions, run_training

    if stage not in (1, 2):
        raise UserError(f"--stage: must be 1 or 2, got {stage}")
    if steps <= 0:
        raise UserError(f"--steps: must be positive, got {steps}")
    config = MaltConfig.tiny() if tiny else MaltConfig()
    shots = load_training_clips(clip_paths, config)
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
    )
    return run_training(options, config, synth_seeds, shots, resume)


def train(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Training folder (checkpoints, log, export)."
    ),
    stage: int = typer.Option(1, "--stage", help="1: autoencoder; 2: denoiser and memory."),
    steps: int = typer.Option(2000, "--steps", help="Train until this many steps."),
    clips: list[str] = typer.Option(
        [], "--clips", help="Real training clip (file or registered name); repeat for more."
    ),
    synth_seeds: str = typer.Option(
        "100000-1099999", "--synth-seeds", help="Simulated camera seeds A-B, or none."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for weights, data order and noise."),
    resume: bool = typer.Option(False, "--resume", help="Continue this stage from its checkpoint."),
    tiny: bool = typer.Option(False, "--tiny", help="The tiny test configuration."),
    no_memory_noise: bool = typer.Option(
        False, "--no-memory-noise", help="Ablation: no noise augmentation of the memory."
    ),
    batch: int = typer.Option(4, "--batch", help="Windows per step (stage 2 scales by unroll)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default by stage)."),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="Steps per checkpoint."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch."),
    curriculum: str | None = typer.Option(
        None, "--curriculum", help="Stage 2 unroll by step, e.g. 0:2,4000:4,12000:8."
    ),
) -> None:
    """Train MALT: stage 1 the autoencoder, then stage 2 the denoiser with memory (same --out).

    Each checkpoint also writes OUT/export (EMA weights + config.json), a checkpoint that
    `gapfill fill --model OUT/export` and the exporters read.
    """
    import torch

    torch.set_num_threads(threads)
    export = train_on_clips(
        clips,
        out,
        stage,
        steps,
        parse_seed_range(synth_seeds),
        seed=seed,
        resume=resume,
        tiny=tiny,
        memory_noise=not no_memory_noise,
        batch=batch,
        lr=lr,
        checkpoint_every=checkpoint_every,
        curriculum=parse_curriculum(curriculum),
    )
    typer.echo(f"trained stage {stage}: {export}")


def fill(
    input: Path = typer.Argument(..., help="Video file with holes."),
    output: Path = typer.Option(..., "--output", "-o", help="Filled video file to write."),
    span: list[str] = typer.Option(
        [], "--span", help="Frames START:END (end exclusive) to replace; repeat for more."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Checkpoint folder (default: shipped)."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="auto, torch, onnx or tensorrt (default: the configuration's, auto: the fastest "
        "available; onnx and tensorrt use the export in MODEL/onnx or a MODEL that is one).",
    ),
) -> None:
    """Fill holes in a video with MALT and write every frame at the nominal rate.

    Without --span, holes are found in the timeline (missing timestamps); with --span, those frame
    ranges are replaced by predictions. The output is an evaluation artefact: no marks yet.
    """
    from gapfill.config import load_settings
    from gapfill.model.fill import resolve_backend
    from gapfill.model.fill_file import fill_file

    if not input.is_file():  # before loading a model for nothing
        raise UserError(f"{input}: no such file")
    settings = load_settings()
    # The engine is chosen once here and handed to fill_file as the model for every hole.
    engine = resolve_backend(
        model or settings.model_path, backend or settings.backend, settings.device
    )
    written = fill_file(input, output, span, model=engine, seed=seed)  # type: ignore[arg-type]
    typer.echo(
        f"{output}: wrote {written.frames} frames, {written.filled} predicted ({engine.name})"
    )
