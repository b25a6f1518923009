"""Can a small network learn *where* each classical filler is right, from the context alone?

benchmarks/candidate_ceiling.py shows that a choice among the classical fillers (the holds,
crossfade, plate, flow and MALT's first guess flowplate) meets MALT's 16- and 64-frame targets
only when it is made for each 8x8 block with the truth; per cut or per frame it falls short. This
script asks whether that choice can be learned from what a fill has: a per-pixel softmax gate over
the six candidates, predicted by a small dilated CNN from

- each candidate's luma relative to flowplate's (where they disagree, and how),
- the frame's place in the hole (t in 0..1) and its distance to the nearest real frame,
- the context's per-pixel temporal spread and |last frame before - first frame after|,
- |median of the context before - median of the context after| (does the plate hold there).

It is trained on training footage only (TRAIN_CLIPS' shots and simulated cameras, shrunk to
`--train-side`), holes of 8-64 frames with 16 frames of context, then read on the same real
evaluation cuts as fill_quality.py and candidate_ceiling.py: the soft gate (the weighted mix) and
the hard gate (each pixel's most likely candidate), PSNR on luma and sharpness ratio against
flowplate.

    .venv/bin/python benchmarks/learned_gate.py [--steps 1500] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from candidate_ceiling import CANDIDATES, db
from fill_quality import Source, cut_starts, real_sources, synth_sources
from rich.console import Console
from rich.progress import track
from rich.table import Table
from torch import nn

from gapfill.fill.metrics import luma, sharpness_ratio
from gapfill.training.clips import EVAL_CLIPS, TRAIN_CLIPS

CONTEXT = 16  # real frames on each side of a hole, as in fill_quality.py
N_CANDIDATES = len(CANDIDATES)
FLOWPLATE = list(CANDIDATES).index("flowplate")
N_FEATURES = N_CANDIDATES + 5  # candidates relative to flowplate, flowplate, t, distance, 3 context
console = Console()


class Gate(nn.Module):
    """Per-pixel softmax over the candidates from (B, N_FEATURES, H, W) features.

    Dilated 3x3 convolutions see about 65 px around each pixel: enough to tell a moving person's
    outline from the still background at the sizes used here.
    """

    def __init__(self, width: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 16)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = N_FEATURES
        for dilation in dilations:
            layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation)]
            layers += [nn.GELU()]
            channels = width
        layers.append(nn.Conv2d(width, N_CANDIDATES, 1))
        self.net = nn.Sequential(*layers)
        # Start as flowplate alone, so the gate has to earn every departure from the first guess.
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():
            self.net[-1].bias.zero_()
            self.net[-1].bias[FLOWPLATE] = 4.0

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).softmax(dim=1)  # (B, N_CANDIDATES, H, W)


class Cut:
    """One hole: the candidates' luma, the truth's, and the per-cut context features."""

    def __init__(self, source: Source, start: int, span: int, keep_rgb: bool) -> None:
        frames, fps = source.frames, source.fps
        before = frames[start - CONTEXT : start]
        self.truth_rgb = frames[start : start + span]
        after = frames[start + span : start + span + CONTEXT]
        candidates_rgb = np.stack([f(before, after, span, fps) for f in CANDIDATES.values()])
        # float16 luma keeps a hundred training holes in a few GB; RGB only where a fill is made.
        self.candidates = (luma(candidates_rgb) / 255.0).astype(np.float16)  # (C, T, H, W)
        self.truth = (luma(self.truth_rgb) / 255.0).astype(np.float16)  # (T, H, W)
        self.candidates_rgb = candidates_rgb if keep_rgb else None
        context = luma(np.concatenate([before, after])) / 255.0
        self.context = np.stack(
            [
                context.std(axis=0),
                np.abs(context[CONTEXT - 1] - context[CONTEXT]),
                np.abs(np.median(context[:CONTEXT], 0) - np.median(context[CONTEXT:], 0)),
            ]
        ).astype(np.float32)  # (3, H, W)
        self.span = span

    def features(self, frame: int) -> np.ndarray:
        """(N_FEATURES, H, W) for hole frame `frame`."""
        candidates = self.candidates[:, frame].astype(np.float32)
        relative = candidates - candidates[FLOWPLATE]
        relative[FLOWPLATE] = candidates[FLOWPLATE]  # its own channel carries the picture itself
        shape = candidates.shape[1:]
        t = np.full(shape, (frame + 0.5) / self.span, np.float32)
        distance = np.full(shape, min(frame + 1, self.span - frame) / 64.0, np.float32)
        return np.concatenate([relative, t[None], distance[None], self.context])


def training_cuts(side: int, spans: list[int], per_source: int, seed: int) -> list[Cut]:
    """Holes cut at random from TRAIN_CLIPS' shots and simulated cameras: never evaluation."""
    rng = np.random.default_rng(seed)
    sources = [
        Source(f"{clip.name}[{a}:{b}]", "train", clip.frames[a:b], clip.fps)
        for clip in real_sources(list(TRAIN_CLIPS), side)
        for a, b in TRAIN_CLIPS[clip.name].shots
    ]
    sources += synth_sources(list(range(seed, seed + 6)), 200, side, side * 9 // 16)
    jobs = []
    for source in sources:
        fitting = [s for s in spans if len(source.frames) >= s + 2 * CONTEXT]
        for _ in range(per_source if fitting else 0):
            span = int(rng.choice(fitting))
            start = int(rng.integers(CONTEXT, len(source.frames) - CONTEXT - span + 1))
            jobs.append((source, start, span))
    jobs = track(jobs, description="training holes", console=console)
    return [Cut(source, start, span, keep_rgb=False) for source, start, span in jobs]


def train(cuts: list[Cut], steps: int, batch: int, crop: int, seed: int) -> Gate:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gate = Gate()
    optimizer = torch.optim.AdamW(gate.parameters(), lr=1e-3, weight_decay=1e-4)
    started = time.monotonic()
    gate_errors, guess_errors = [], []  # per step, for the running report
    for step in range(1, steps + 1):
        features, candidates, truths = [], [], []
        for _ in range(batch):
            cut = cuts[rng.integers(len(cuts))]
            frame = int(rng.integers(cut.span))
            h, w = cut.truth.shape[1:]
            y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            window = np.s_[y : y + crop, x : x + crop]
            features.append(cut.features(frame)[(slice(None), *window)])
            candidates.append(cut.candidates[:, frame][(slice(None), *window)].astype(np.float32))
            truths.append(cut.truth[frame][window].astype(np.float32))
        candidates_batch = torch.from_numpy(np.stack(candidates))  # (B, C, crop, crop)
        truth_batch = torch.from_numpy(np.stack(truths))  # (B, crop, crop)
        weights = gate(torch.from_numpy(np.stack(features)))
        mix = (weights * candidates_batch).sum(dim=1)
        loss = ((mix - truth_batch) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        gate_errors.append(loss.item())
        guess_errors.append(((candidates_batch[:, FLOWPLATE] - truth_batch) ** 2).mean().item())
        if step % 100 == 0:
            gate_db = db(np.mean(gate_errors) * 255**2)
            guess_db = db(np.mean(guess_errors) * 255**2)
            console.print(
                f"steps {step - 99}-{step}: gate {gate_db:.2f} dB, flowplate {guess_db:.2f} dB"
                f" ({gate_db - guess_db:+.2f}), {time.monotonic() - started:.0f} s",
                highlight=False,
            )
            gate_errors, guess_errors = [], []
    return gate


@torch.no_grad()
def gated_fills(gate: Gate, cut: Cut) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cut's soft and hard fills, (T, H, W, 3) uint8 each, and per candidate the soft gate's
    mean weight and the share of pixels the hard gate (each pixel's most likely one) picks it."""
    soft, hard, weight_sums, pick_counts = [], [], np.zeros(N_CANDIDATES), np.zeros(N_CANDIDATES)
    for frame in range(cut.span):
        weights = gate(torch.from_numpy(cut.features(frame))[None])[0].numpy()  # (C, H, W)
        picks = weights.argmax(0)  # (H, W)
        one_hot = np.eye(N_CANDIDATES, dtype=np.float32)[picks].transpose(2, 0, 1)  # (C, H, W)
        rgb = cut.candidates_rgb[:, frame].astype(np.float32)  # (C, H, W, 3)
        soft.append(np.einsum("chw,chwk->hwk", weights, rgb))
        hard.append(np.einsum("chw,chwk->hwk", one_hot, rgb))
        weight_sums += weights.mean(axis=(1, 2))
        pick_counts += one_hot.mean(axis=(1, 2))
    return _to_uint8(soft), _to_uint8(hard), weight_sums / cut.span, pick_counts / cut.span


def _to_uint8(frames: list[np.ndarray]) -> np.ndarray:
    return np.clip(np.rint(np.stack(frames)), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=96, help="training crops, pixels square")
    parser.add_argument("--train-side", type=int, default=320)
    parser.add_argument("--train-spans", default="8,16,32,64")
    parser.add_argument("--holes-per-source", type=int, default=6)
    parser.add_argument("--spans", default="16,64", help="evaluation spans")
    parser.add_argument("--positions", type=int, default=3)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spans = [int(s) for s in args.train_spans.split(",")]
    cuts = training_cuts(args.train_side, spans, args.holes_per_source, args.seed)
    console.print(f"{len(cuts)} training holes", highlight=False)
    gate = train(cuts, args.steps, args.batch, args.crop, args.seed).eval()
    sources = real_sources(list(EVAL_CLIPS), args.max_side)
    for span in (int(s) for s in args.spans.split(",")):
        scores: dict[str, list[tuple[float, float]]] = {"flowplate": [], "soft": [], "hard": []}
        mean_weights, pick_shares = [], []
        for source in sources:
            for start in cut_starts(len(source.frames), span, CONTEXT, args.positions):
                cut = Cut(source, start, span, keep_rgb=True)
                soft, hard, weights, picks = gated_fills(gate, cut)
                fills = {"flowplate": cut.candidates_rgb[FLOWPLATE], "soft": soft, "hard": hard}
                mean_weights.append(weights)
                pick_shares.append(picks)
                for name, fill in fills.items():
                    error = np.mean((luma(fill) - luma(cut.truth_rgb)) ** 2)
                    scores[name].append((db(error), sharpness_ratio(fill, cut.truth_rgb)))
        table = Table(title=f"real footage, span {span} frames, {len(scores['soft'])} cuts")
        for column in ("fill", "PSNR dB", "over flowplate", "sharpness"):
            table.add_column(column, justify="left" if column == "fill" else "right")
        guess = float(np.mean([p for p, _ in scores["flowplate"]]))
        labels = {
            "flowplate": "flowplate (first guess)",
            "soft": "gate, soft",
            "hard": "gate, hard",
        }
        for name, values in scores.items():
            psnr, sharp = np.mean(values, axis=0)
            table.add_row(labels[name], f"{psnr:.2f}", f"{psnr - guess:+.2f}", f"{sharp:.3f}")
        table.caption = "soft gate's mean weight / hard gate's share of pixels: " + ", ".join(
            f"{name} {w:.3f}/{p:.3f}"
            for name, w, p in zip(
                CANDIDATES, np.mean(mean_weights, 0), np.mean(pick_shares, 0), strict=True
            )
        )
        console.print(table)


if __name__ == "__main__":
    main()
