"""Could a choice or blend of classical fillers meet MALT's quality target without learning?

MALT starts from a hand-made first guess (baselines.FirstGuess: flow near the hole's edges, the
background plate in its middle) and must beat the best classical filler by 1 dB at 16 and 64
frames with sharpness ratio >= 0.85. Before asking a learned model for that, measure how far the
classical candidates themselves go when combined as well as possible:

- per cut / per frame:  the best candidate for the whole cut, or for each frame, chosen with the
                        truth (a perfect selector that sees only whole frames);
- per 8x8 block:        the best candidate for each 8x8 block of each frame, chosen with the
                        truth (needs to know *where* each candidate is right: what a model must
                        learn from the context);
- global blend:         the least-squares weights of all candidates, fitted on these very cuts
                        (optimistic: fitted on the evaluation), with its sharpness ratio.

Candidates: hold of the last frame before, hold of the first frame after, crossfade, plate, flow
and flowplate (the first guess). Same real evaluation clips, cuts and context as
benchmarks/fill_quality.py; PSNR on luma, mean over cuts.

    .venv/bin/python benchmarks/candidate_ceiling.py [--spans 16,64] [--threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from fill_quality import cut_starts, real_sources
from rich.console import Console
from rich.table import Table

from gapfill.fill import baselines
from gapfill.fill.metrics import luma, sharpness_ratio
from gapfill.training.clips import EVAL_CLIPS

BLOCK = 8  # pixels: the side of the blocks the per-block selector chooses for


def hold_before(before: np.ndarray, after: np.ndarray, n: int, fps: float) -> np.ndarray:
    return np.repeat(before[-1:], n, axis=0)


def hold_after(before: np.ndarray, after: np.ndarray, n: int, fps: float) -> np.ndarray:
    return np.repeat(after[:1], n, axis=0)


CANDIDATES = {
    "hold before": hold_before,
    "hold after": hold_after,
    "crossfade": baselines.crossfade,
    "plate": baselines.background_plate,
    "flow": baselines.optical_flow,
    "flowplate": baselines.flow_plate,
}


def db(mse: float) -> float:
    return float(10 * np.log10(255.0**2 / max(mse, 1e-9)))


def block_means(errors: np.ndarray) -> np.ndarray:
    """(C,T,H,W) squared errors -> (C,T,H/8,W/8) means over 8x8 blocks (edges cropped)."""
    c, t, h, w = errors.shape
    h8, w8 = h // BLOCK * BLOCK, w // BLOCK * BLOCK
    blocks = errors[:, :, :h8, :w8].reshape(c, t, h8 // BLOCK, BLOCK, w8 // BLOCK, BLOCK)
    return blocks.mean(axis=(3, 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", default="16,64")
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--positions", type=int, default=3)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    sources = real_sources(list(EVAL_CLIPS), args.max_side)
    for span in (int(s) for s in args.spans.split(",")):
        rows: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for key in ("best per cut", "best per frame", f"best per {BLOCK}x{BLOCK} block"):
            rows[key] = []
        fills, truths = [], []  # luma, per cut, for the blend fitted afterwards
        for source in sources:
            for start in cut_starts(len(source.frames), span, args.context, args.positions):
                before = source.frames[start - args.context : start]
                truth = source.frames[start : start + span]
                after = source.frames[start + span : start + span + args.context]
                outs = [f(before, after, span, source.fps) for f in CANDIDATES.values()]
                errors = np.stack([(luma(o) - luma(truth)) ** 2 for o in outs])  # (C,T,H,W)
                for name, error in zip(CANDIDATES, errors, strict=True):
                    rows[name].append(db(error.mean()))
                rows["best per cut"].append(db(errors.mean(axis=(1, 2, 3)).min()))
                rows["best per frame"].append(db(errors.mean(axis=(2, 3)).min(axis=0).mean()))
                rows[f"best per {BLOCK}x{BLOCK} block"].append(
                    db(block_means(errors).min(axis=0).mean())
                )
                fills.append(np.stack(outs))
                truths.append(truth)
                console.print(f"{source.name} span {span} @ {start}: done", highlight=False)
        # Least squares over every pixel of every cut: sum of X^T X and X^T y per cut.
        gram = np.zeros((len(CANDIDATES),) * 2)
        cross = np.zeros(len(CANDIDATES))
        for out, truth in zip(fills, truths, strict=True):
            x = luma(out).reshape(len(CANDIDATES), -1).astype(np.float64)
            gram += x @ x.T
            cross += x @ luma(truth).ravel()
        weights = np.linalg.solve(gram, cross)
        blend_db, blend_sharpness = [], []
        for out, truth in zip(fills, truths, strict=True):
            blend = np.tensordot(weights, out.astype(np.float32), axes=1)
            blend = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
            blend_db.append(db(np.mean((luma(blend) - luma(truth)) ** 2)))
            blend_sharpness.append(sharpness_ratio(blend, truth))
        table = Table(title=f"real footage, span {span} frames, {len(truths)} cuts")
        table.add_column("candidate or selector")
        table.add_column("PSNR dB", justify="right")
        table.add_column("over flowplate", justify="right")
        guess = float(np.mean(rows["flowplate"]))
        for name, values in rows.items():
            mean = float(np.mean(values))
            table.add_row(name, f"{mean:.2f}", f"{mean - guess:+.2f}")
        mean = float(np.mean(blend_db))
        table.add_row(
            f"global blend (sharpness {np.mean(blend_sharpness):.3f})",
            f"{mean:.2f}",
            f"{mean - guess:+.2f}",
        )
        table.caption = "blend weights: " + ", ".join(
            f"{name} {w:+.3f}" for name, w in zip(CANDIDATES, weights, strict=True)
        )
        console.print(table)


if __name__ == "__main__":
    main()
