"""How much of MALT's learned change is right: its least-squares share, by distance to footage.

A fill is the first guess plus the model's change (gapfill.fill.compose). With d = fill - guess
and e = truth - guess (luma, source resolution), the share of the change that is right is the
least-squares factor lambda* = <d, e> / <d, d>: 1 when the change is the truth's, 0 when it is
unrelated to it (then any of it costs PSNR), above 1 when it points the right way but is too
timid. Pooled over hole frames by their distance to the nearest real frame, since near real
footage the guess is hard to improve on and far from it the guess knows little. Printed for the
training footage (bikes.mp4 shots, simulated seeds 0-2) and for the real evaluation clips: a
model that learned something that transfers has lambda* well above 0 on both.

The checkpoint runs with its change kept whole (change_tau 0), in a temporary copy: the trust
distance is what this measures; and always kept (check_change False), not only where it pays on
the context (gapfill/fill/context_check.py).

    .venv/bin/python benchmarks/change_worth.py [--model DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from fill_quality import cut_starts, real_sources, training_sources
from rich.console import Console
from rich.table import Table

from gapfill.fill.fill_gap import fill_gap
from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.metrics import luma
from gapfill.network.config import CONFIG_NAME, default_checkpoint_dir
from gapfill.training.clips import EVAL_CLIPS

SPANS = (1, 4, 16, 64)
CONTEXT = 16
DISTANCE_BINS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, None))


def distance_bin(distance: int) -> int:
    """Index of the DISTANCE_BINS entry holding `distance` frames."""
    return next(
        i for i, (low, high) in enumerate(DISTANCE_BINS) if low <= distance <= (high or distance)
    )


def shares(sources, model: Path, positions: int) -> list[tuple[float, float]]:
    """(lambda*, share of the guess's squared error the best lambda removes) per distance bin."""
    products = np.zeros(len(DISTANCE_BINS))
    change_energy = np.zeros(len(DISTANCE_BINS))
    error_energy = np.zeros(len(DISTANCE_BINS))
    for source in sources:
        for span in SPANS:
            for start in cut_starts(len(source.frames), span, CONTEXT, positions):
                before = source.frames[start - CONTEXT : start]
                truth = source.frames[start : start + span]
                after = source.frames[start + span : start + span + CONTEXT]
                guess = MotionGuess(before, after, span).frames(0, span)[0]
                fill = fill_gap(
                    before,
                    after,
                    span,
                    source.fps,
                    model=model,
                    backend="torch",
                    check_change=False,  # the model's own change, not the context check's verdict
                )
                for k in range(span):
                    distance = min(k + 1, span - k)
                    b = distance_bin(distance)
                    change = luma(fill[k]).astype(np.float64) - luma(guess[k])
                    error = luma(truth[k]).astype(np.float64) - luma(guess[k])
                    products[b] += (change * error).sum()
                    change_energy[b] += (change * change).sum()
                    error_energy[b] += (error * error).sum()
    return [
        (p / c if c else float("nan"), p * p / c / e if c and e else float("nan"))
        for p, c, e in zip(products, change_energy, error_energy, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="MALT checkpoint (default: the shipped one)")
    parser.add_argument("--positions", type=int, default=3, help="cuts per clip and span")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=120)

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "whole-change"
        shutil.copytree(args.model or default_checkpoint_dir(), model)
        config = json.loads((model / CONFIG_NAME).read_text())
        config["change_tau"] = 0.0
        (model / CONFIG_NAME).write_text(json.dumps(config))
        results = {
            "training footage": shares(training_sources(0), model, args.positions),
            "real evaluation clips": shares(
                real_sources(list(EVAL_CLIPS), 640), model, args.positions
            ),
        }

    table = Table(title="Least-squares share of MALT's change that is right (lambda*), by distance")
    table.add_column("frames from real footage")
    for name in results:
        table.add_column(f"{name}: lambda*", justify="right")
        table.add_column("error removed", justify="right")
    for i, (low, high) in enumerate(DISTANCE_BINS):
        label = f"{low}" if low == high else f"{low}-{high}" if high else f"{low}+"
        cells = []
        for rows in results.values():
            lam, removed = rows[i]
            cells += [f"{lam:+.3f}", f"{100 * removed:.2f} %"]
        table.add_row(label, *cells)
    console.print(table)


if __name__ == "__main__":
    main()
