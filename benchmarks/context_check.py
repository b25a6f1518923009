"""Does the context check (gapfill/fill/context_check.py) drop MALT's change where it costs?

For every cut (real evaluation clips, the training-side real clips of `make real-clips`, one
held-out simulated camera): the pseudo-hole's verdict, as fill_gap computes it from the real
frames before the hole (model minus guess, dB, + means the model is nearer), beside what keeping
the change really did to the hole (MALT with the change always kept minus its first guess,
PSNR dB on luma). A check that works says "worse" wherever the change costs. Also what the
learned change is worth on footage the model never trained on, per group, at 16 and 64 frames.

    .venv/bin/python benchmarks/context_check.py [--model DIR] [--positions 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from fill_quality import HELD_OUT_SEED_BASE, cut_starts, real_sources, synth_sources
from fill_quality import training_sources as training_side_sources
from rich.console import Console
from rich.table import Table

from gapfill.fill.context_check import pseudo_hole_errors
from gapfill.fill.fill_gap import fill_gap, resolve_backend
from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.generate import DEFAULT_CONTEXT_SEGMENTS
from gapfill.fill.metrics import psnr
from gapfill.media.frames import resize_frames
from gapfill.training.clips import EVAL_CLIPS

SPANS = (16, 64)
CONTEXT = 32  # real frames each side, as in fill_quality's protocol


def decibels(model_mse: float, guess_mse: float) -> float:
    """How far the model is ahead of its guess on the pseudo-hole, in dB (+: nearer the truth)."""
    return 10.0 * math.log10(max(guess_mse, 1e-9) / max(model_mse, 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="MALT checkpoint (default: the shipped one)")
    parser.add_argument("--positions", type=int, default=3, help="cuts per clip and span")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = resolve_backend(args.model)
    small = (engine.config.height, engine.config.width)
    groups = {
        "evaluation": real_sources(list(EVAL_CLIPS), 640),
        "training-side real": [
            s for s in training_side_sources(0) if not s.name.startswith("synth")
        ],
        "simulated (held out)": synth_sources([HELD_OUT_SEED_BASE], 200, 320, 180),
    }
    console = Console(width=120)
    table = Table(title=f"Context check against the truth, {CONTEXT} real frames each side")
    for column in ("group", "clip", "span", "start", "pseudo-hole dB", "kept change dB"):
        table.add_column(column, justify="right")
    gains: dict[tuple[str, int], list[float]] = defaultdict(list)
    verdicts = []  # (pseudo-hole says the change pays, what the change really did)
    for group, sources in groups.items():
        for source in sources:
            for span in SPANS:
                for start in cut_starts(len(source.frames), span, CONTEXT, args.positions):
                    before = source.frames[start - CONTEXT : start]
                    truth = source.frames[start : start + span]
                    after = source.frames[start + span : start + span + CONTEXT]
                    errors = pseudo_hole_errors(
                        engine, resize_frames(before, small), 0, None, DEFAULT_CONTEXT_SEGMENTS
                    )
                    guess = MotionGuess(before, after, span).frames(0, span)[0]
                    kept = fill_gap(
                        before, after, span, source.fps, model=engine, check_change=False
                    )
                    gain = psnr(kept, truth) - psnr(guess, truth)
                    gains[(group, span)].append(gain)
                    pseudo = decibels(*errors) if errors else float("nan")
                    verdicts.append((errors is not None and errors[0] < errors[1], gain))
                    table.add_row(
                        group, source.name, str(span), str(start), f"{pseudo:+.2f}", f"{gain:+.2f}"
                    )
    console.print(table)
    said_worse = sum(not pays for pays, _ in verdicts)
    costly = [pays for pays, gain in verdicts if gain < -0.1]
    console.print(
        f"{len(verdicts)} holes; the pseudo-hole said 'worse' on {said_worse}; of the "
        f"{len(costly)} where keeping the change cost more than 0.1 dB it said 'worse' on "
        f"{costly.count(False)}"
    )
    for (group, span), values in gains.items():
        console.print(
            f"{group}, {span} frames: keeping the change {np.mean(values):+.2f} dB against the "
            f"guess (mean of {len(values)}; worst {min(values):+.2f})"
        )


if __name__ == "__main__":
    main()
