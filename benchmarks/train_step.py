"""Where a stage 2 training step's time goes, and what data echoing (`gapfill train --echo`) buys.

A stage 2 step has three parts: making the batch's footage (simulated cameras, real shots and
photo scenes cropped, the first guess's dense flow), encoding every segment of it with the frozen
autoencoder, and the model's own step (memory, denoiser, backward, optimiser, EMA). With --echo N
the first two happen once per N steps. This times each part over --steps real steps of the
training code (gapfill.training.train.Trainer, the run's sizes and data) and prints the seconds of
each, then the steps per second that echoing 2, 4 and 8 gives as a ratio to no echoing, worked
out from those parts measured in the same run. The footage is made here on one core; --workers W
says how the run makes it: W processes ahead of the model (a GPU host), so that a step takes the
longer of footage / W and encode + model, or in the training process (0, the CPU default).

    .venv/bin/python benchmarks/train_step.py --config scripts/device/space4.json \\
        --autoencoder scripts/device/autoencoder --threads 2 [--device cuda --workers 14]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from gapfill.training.clips import TRAIN_CLIPS
from gapfill.training.commands import DEFAULT_SYNTH_SEEDS, model_sizes, parse_seed_range
from gapfill.training.data import load_training_clips
from gapfill.training.train import build_trainer
from gapfill.training.train_options import TrainOptions


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="model sizes (default: the shipped model's)")
    parser.add_argument("--autoencoder", type=Path, required=True, help="a stage 1 checkpoint")
    parser.add_argument("--steps", type=int, default=8, help="steps timed, after one warm-up")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--unroll", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0, help="footage processes of the run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = model_sizes(False, args.config)
    shots = load_training_clips(list(TRAIN_CLIPS), config)
    with tempfile.TemporaryDirectory() as scratch:
        options = TrainOptions(
            out=Path(scratch), stage=2, steps=args.steps + 1, batch=args.batch,
            curriculum=((0, args.unroll),), autoencoder=args.autoencoder, photos=True,
            device=args.device,
        )  # fmt: skip
        trainer = build_trainer(
            options, config, parse_seed_range(DEFAULT_SYNTH_SEEDS), shots, resume=False
        )
        maker = trainer.footage_maker()
        parts: dict[str, list[float]] = {"footage": [], "encode": [], "model": []}
        for step in range(args.steps + 1):
            started = time.perf_counter()
            footage = maker(step, *trainer.plan(step))
            made = time.perf_counter()
            encoded = trainer.encode_footage(footage)
            _synchronize(args.device)
            encoded_at = time.perf_counter()
            loss, _ = trainer.stage2_loss(encoded)
            trainer.optimise(loss)
            _synchronize(args.device)
            if step > 0:  # the first step warms caches and allocators
                parts["footage"].append(made - started)
                parts["encode"].append(encoded_at - made)
                parts["model"].append(time.perf_counter() - encoded_at)

    mean = {name: float(np.mean(times)) for name, times in parts.items()}

    def step_seconds(echo: int) -> float:
        if args.workers > 0:
            return max(
                mean["footage"] / (args.workers * echo), mean["encode"] / echo + mean["model"]
            )
        return (mean["footage"] + mean["encode"]) / echo + mean["model"]

    whole = sum(mean.values())
    console = Console()
    console.print(f"stage 2 step on {args.device}, batch {args.batch}, unroll {args.unroll}:")
    table = Table()
    table.add_column("part")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for name, seconds in mean.items():
        table.add_row(name, f"{seconds:.3f}", f"{seconds / whole:.0%}")
    table.add_row("all three", f"{whole:.3f}", "100%")
    console.print(table)
    made = f"{args.workers} footage workers" if args.workers else "footage made in the step"
    console.print(f"a step with {made}: {step_seconds(1):.3f} s")
    for echo in (2, 4, 8):
        ratio = step_seconds(1) / step_seconds(echo)
        console.print(f"--echo {echo}: {ratio:.2f}x the steps per second of --echo 1")


if __name__ == "__main__":
    main()
