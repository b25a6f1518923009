"""How far MALT could go at best with its autoencoder: fills made from the *real* latent.

MALT's fill is the first guess plus the change its sampled latent makes to the guess's own
latent (gapfill.fill.generate.frames_from_latent), composed back to the source resolution
(gapfill.fill.compose). Replace the sampled latent with the latent of the real frames, which
no denoiser can beat, and what remains is the ceiling the autoencoder and the composition set:

- guess:          the first guess alone (baselines.FirstGuess): a model that learned nothing;
- latent oracle:  the guess plus the change encode(real) makes: a perfect denoiser;
- pixel oracle:   the real frames at the working size, composed back: a perfect model of any kind
                  that works at the working size (the composition's own ceiling);
- best classical: the best mean of crossfade, plate and flow (the quality target's bar; RIFE is
                  never the best on these cuts, benchmarks/results/fill_quality.txt).

Same real evaluation clips, cuts and context as benchmarks/fill_quality.py. If the latent oracle is
not clear of the bar, no amount of denoiser training meets the target: the autoencoder must improve.
The autoencoder's reconstruction PSNR of the real segments (working size) is printed beside, with
plain resizing of each clip down 8x and 4x and back up at the working size for scale.

    .venv/bin/python benchmarks/latent_ceiling.py [--model DIR] [--spans 1,4,16,64] [--threads 2]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
from fill_quality import cut_starts, real_sources
from rich.console import Console
from rich.table import Table

from gapfill.fill.baselines import FirstGuess
from gapfill.fill.compose import compose_to_source
from gapfill.fill.fill_gap import resolve_backend
from gapfill.fill.fillers import BASELINES
from gapfill.fill.generate import (
    frames_from_latent,
    from_model_frames,
    pad_frames,
    to_model_frames,
)
from gapfill.fill.metrics import psnr
from gapfill.media.frames import resize_frames
from gapfill.training.clips import EVAL_CLIPS

CLASSICAL = ("crossfade", "plate", "flow")
COLUMNS = ("guess", "latent oracle", "pixel oracle", "best classical")


def oracle_fills(
    backend, before: np.ndarray, truth: np.ndarray, after: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The latent-oracle and pixel-oracle fills at source size (n, H, W, 3), and the
    autoencoder's reconstruction PSNR of each real segment at the working size."""
    config = backend.config
    seg, small = config.segment_frames, (config.height, config.width)
    n = len(truth)
    before_small, after_small = resize_frames(before, small), resize_frames(after, small)
    real_small = resize_frames(np.concatenate([truth, after]), small)  # the hole, then after
    small_guess = FirstGuess(before_small, after_small[:seg], n)
    latent_parts, recon = [], []
    for first in range(0, n, seg):
        guess, known = small_guess.frames(first, seg)
        real = pad_frames(real_small[first : first + seg], seg, at_end=True)
        z_guess = backend.encode(to_model_frames(guess))
        z_real = backend.encode(to_model_frames(real))
        frames = frames_from_latent(backend, guess, known, z_real, z_guess)
        latent_parts.append(frames[: min(seg, n - first)])
        recon.append(psnr(from_model_frames(backend.decode(z_real)), real))
    full_guess = FirstGuess(before, after[:seg], n)
    latent = compose_to_source(np.concatenate(latent_parts), small_guess, full_guess)
    pixel = compose_to_source(real_small[:n], small_guess, full_guess)
    return latent, pixel, recon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="MALT checkpoint (default: the shipped one)")
    parser.add_argument("--spans", default="1,4,16,64")
    parser.add_argument("--context", type=int, default=16, help="real frames on each side")
    parser.add_argument("--positions", type=int, default=3, help="cuts per clip and span")
    parser.add_argument("--max-side", type=int, default=640, help="shrink real clips to this")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backend = resolve_backend(args.model, backend="torch", device="cpu")
    console = Console(width=120)

    figures: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    recon: list[float] = []
    for source in real_sources(list(EVAL_CLIPS), args.max_side):
        for span in (int(s) for s in args.spans.split(",")):
            for start in cut_starts(len(source.frames), span, args.context, args.positions):
                before = source.frames[start - args.context : start]
                truth = source.frames[start : start + span]
                after = source.frames[start + span : start + span + args.context]
                latent, pixel, segment_recon = oracle_fills(backend, before, truth, after)
                recon += segment_recon
                row = figures[span]
                row["guess"].append(psnr(FirstGuess(before, after, span).frames(0, span)[0], truth))
                row["latent oracle"].append(psnr(latent, truth))
                row["pixel oracle"].append(psnr(pixel, truth))
                for name in CLASSICAL:
                    fill = BASELINES[name](before, after, span, source.fps)
                    row[name].append(psnr(fill, truth))
                console.print(f"{source.name} span {span} @ {start}: done", highlight=False)

    table = Table(title="Real footage: PSNR dB (luma) of fills from the real latent, mean of cuts")
    table.add_column("span")
    for column in (*COLUMNS, "latent oracle - best classical"):
        table.add_column(column, justify="right")
    for span, row in figures.items():
        means = {column: float(np.mean(values)) for column, values in row.items()}
        means["best classical"] = max(means[name] for name in CLASSICAL)
        table.add_row(
            f"{span} ({len(row['guess'])} cuts)",
            *(f"{means[column]:.2f}" for column in COLUMNS),
            f"{means['latent oracle'] - means['best classical']:+.2f}",
        )
    console.print(table)
    console.print(
        f"autoencoder reconstruction of the real segments at working size: "
        f"{np.mean(recon):.2f} dB mean, {np.min(recon):.2f} dB worst ({len(recon)} segments)"
    )
    for source in real_sources(list(EVAL_CLIPS), args.max_side):
        small = resize_frames(source.frames, (backend.config.height, backend.config.width))
        console.print(
            f"plain resize of {source.name} at working size, down and back up: "
            + ", ".join(f"{f}x {resize_round_trip(small, f):.2f} dB" for f in (8, 4)),
            highlight=False,
        )


def resize_round_trip(frames: np.ndarray, factor: int) -> float:
    """PSNR of `frames` shrunk `factor` times (area) and enlarged back (bicubic), each frame on
    its own: what a latent of that spatial factor with no time compression would have to beat."""
    height, width = frames.shape[1:3]
    down = [cv2.resize(f, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
            for f in frames]  # fmt: skip
    up = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in down])
    return psnr(up, frames)


if __name__ == "__main__":
    main()
