"""Would an autoencoder that codes a segment given its first guess lift MALT's ceiling? Arms.

MALT's fill is the first guess plus a change the denoiser makes in the latent, decoded as
`guess + D(z) - D(E(guess))`. With the real segment's latent in place of a sampled one (a perfect
denoiser) that is `guess + D(E(x)) - D(E(guess))`: wrong wherever the autoencoder's errors on the
real frames and on the guess differ, which is everywhere the guess is wrong. The shipped
autoencoder reconstructs real footage at about 20 dB, worse than the guess itself from 4-frame
holes on, so a perfect denoiser gains only +0.5-0.8 dB over the guess at 16 frames
(benchmarks/latent_ceiling.py).

Learned video codecs code a frame *given* a prediction of it. The arms, each starting from the
shipped autoencoder and fine-tuned the same steps on the same batches of training footage only
(simulated cameras, photo scenes, the training clips):
- `control`: the shipped scheme, fine-tuned on frames;
- `conditional`: the segment's first guess added to the encoder's and decoder's input
  (convolutions that start at zero, so at step 0 it is the shipped autoencoder) and an output
  skip that can copy the guess; fill `D(E(x, g), g)`, or with the residual trick
  `g + D(E(x, g), g) - D(E(g, g), g)` (column `conditional residual`);
- `residual`: the autoencoder codes what the guess gets wrong, `(x - g) / 2`; fill
  `g + 2 D(E((x - g) / 2))`.
The table is each arm's perfect denoiser's fill on the real evaluation clips at the working size.
The control is also written as a checkpoint (the parent's denoiser with its autoencoder) to
OUT/control-export, for benchmarks/latent_ceiling.py --model.

    .venv/bin/python benchmarks/conditional_decoder.py --arms control,conditional,residual \
        --steps 1000 --out artifacts/cond-ae
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn
from tqdm import tqdm

from gapfill.fill.baselines import FirstGuess
from gapfill.fill.generate import from_model_frames, to_model_frames
from gapfill.fill.metrics import psnr
from gapfill.media.frames import resize_frames
from gapfill.network.autoencoder import (
    Autoencoder,
    depth_to_space,
    depth_to_time,
    space_to_depth,
    stage1_loss,
)
from gapfill.network.checkpoint import load_model, save_model
from gapfill.network.config import default_checkpoint_dir
from gapfill.training.clips import EVAL_CLIPS, TRAIN_CLIPS, load_clip
from gapfill.training.data import FootageSampler, load_training_clips
from gapfill.training.photos import load_photos

SEG = 16
CONTEXT = 16
SPANS = (1, 4, 16, 64)


class ConditionalAutoencoder(nn.Module):
    """An autoencoder whose encoder and decoder also see the segment's first guess `g`.

    The new paths start at zero: at step 0 this is `parent` exactly.
    """

    def __init__(self, parent: Autoencoder, channels: tuple[int, int, int]):
        super().__init__()
        c0, c1, _ = channels
        self.encoder = copy.deepcopy(parent.encoder)
        self.decoder = copy.deepcopy(parent.decoder)
        self.guess_in = nn.Conv3d(12, c0, (1, 3, 3), padding=(0, 1, 1))  # encoder, at H/2
        self.guess_quarter = nn.Conv3d(48, c1, (1, 3, 3), padding=(0, 1, 1))  # decoder, at H/4
        self.guess_half = nn.Conv3d(12, c0, (1, 3, 3), padding=(0, 1, 1))  # decoder, at H/2
        self.copy = nn.Conv3d(12, 12, 1)  # output skip: can pass the guess through
        for layer in (self.guess_in, self.guess_quarter, self.guess_half, self.copy):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode_stats(self, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.encoder
        h = F.silu(e.stem(space_to_depth(x, 2)) + self.guess_in(space_to_depth(g, 2)))
        h = F.silu(e.down_space(h))  # (B, c1, T, H/4, W/4)
        h = F.silu(e.down_space_time(h))
        h = F.silu(e.down_time(h))  # (B, c2, T/4, H/s, W/s)
        mean, logvar = e.out(F.silu(e.norm(e.mid(h)))).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def decode(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        d = self.decoder
        h = d.mid(d.inp(z))
        h = F.silu(depth_to_time(d.up_time1(h), 2))
        h = F.silu(depth_to_time(d.up_time2(h), 2))  # (B, c1, T, h, w)
        h = F.silu(depth_to_space(d.up_space1(h), d.first_up))  # (B, c1, T, H/4, W/4)
        h = h + self.guess_quarter(space_to_depth(g, 4))
        h = F.silu(depth_to_space(d.up_space2(h), 2))  # (B, c0, T, H/2, W/2)
        h = h + self.guess_half(space_to_depth(g, 2))
        return depth_to_space(d.out(h) + self.copy(space_to_depth(g, 2)), 2)  # (B, 3, T, H, W)


def segment_example(
    window: np.ndarray, span: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment k of a hole of `span` frames after CONTEXT real frames: (real, guess, known)."""
    before = window[:CONTEXT]
    after = window[CONTEXT + span : CONTEXT + span + SEG]
    guess, known = FirstGuess(before, after, span).frames(k * SEG, SEG)
    real = window[CONTEXT + k * SEG : CONTEXT + (k + 1) * SEG]
    return real, guess, known


def training_batch(sampler: FootageSampler, rng: np.random.Generator, batch: int):
    """Half single-segment holes (1-16 frames, log-uniform), half a segment of a 17-64 hole."""
    reals, guesses = [], []
    for _ in range(batch):
        if rng.random() < 0.5:
            span, k = int(np.clip(np.rint(np.exp(rng.uniform(0, np.log(SEG)))), 1, SEG)), 0
        else:
            span = int(rng.integers(SEG + 1, 4 * SEG + 1))
            k = int(rng.integers(0, -(-span // SEG)))
        window = sampler.window(CONTEXT + max(span, (k + 1) * SEG) + SEG)
        real, guess, _ = segment_example(window, span, k)
        reals.append(to_model_frames(real))
        guesses.append(to_model_frames(guess))
    return torch.from_numpy(np.concatenate(reals)), torch.from_numpy(np.concatenate(guesses))


class Arm:
    """One way to code a segment: a trainable autoencoder, its stage 1 loss on a batch, and the
    fill a perfect denoiser would get through it (frames in [-1, 1], (B, 3, T, H, W))."""

    def __init__(self, name: str, module: nn.Module):
        self.name, self.module = name, module

    def loss(self, real: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fills(self, real: torch.Tensor, guess: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class LatentChangeArm(Arm):
    """The shipped scheme: code frames; the fill is `g + D(E(x)) - D(E(g))`."""

    def loss(self, real, guess):
        return self.module.loss(real)[0]

    def fills(self, real, guess):
        m = self.module
        return {self.name: guess + m.decode(m.encode(real)) - m.decode(m.encode(guess))}


class ConditionalArm(Arm):
    """ConditionalAutoencoder: the fill is `D(E(x, g), g)`, or that with the residual trick."""

    def loss(self, real, guess):
        mean, logvar = self.module.encode_stats(real, guess)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return stage1_loss(self.module.decode(z, guess), real, mean, logvar)[0]

    def fills(self, real, guess):
        m = self.module
        decoded = m.decode(m.encode_stats(real, guess)[0], guess)
        own = m.decode(m.encode_stats(guess, guess)[0], guess)  # the guess's own decoding
        return {self.name: decoded, f"{self.name} residual": guess + decoded - own}


class ResidualArm(Arm):
    """Code what the guess gets wrong, `(x - g) / 2`, not the frames: the fill is
    `g + 2 D(E((x - g) / 2))`. A good guess leaves a sparse, mostly zero picture to code."""

    def loss(self, real, guess):
        return self.module.loss((real - guess) / 2)[0]

    def fills(self, real, guess):
        m = self.module
        return {self.name: guess + 2 * m.decode(m.encode((real - guess) / 2))}


def make_arms(names: list[str], parent: Autoencoder, channels) -> list[Arm]:
    kinds = {
        "control": lambda: LatentChangeArm("control", copy.deepcopy(parent)),
        "conditional": lambda: ConditionalArm(
            "conditional", ConditionalAutoencoder(parent, channels)
        ),
        "residual": lambda: ResidualArm("residual", copy.deepcopy(parent)),
    }
    unknown = set(names) - set(kinds)
    if unknown:
        raise SystemExit(f"--arms: unknown {sorted(unknown)}; choose from {sorted(kinds)}")
    return [kinds[name]() for name in names]


def train(args: argparse.Namespace, arms: list[Arm]) -> None:
    """Train every arm the same steps on the same batches; resumable from args.out/state.pt."""
    state_path = args.out / "state.pt"
    optimizers = {
        arm.name: torch.optim.AdamW(arm.module.parameters(), lr=args.lr, weight_decay=0.0)
        for arm in arms
    }
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        for arm in arms:
            arm.module.load_state_dict(state[arm.name])
            optimizers[arm.name].load_state_dict(state[f"{arm.name}_optimizer"])
        step = state["step"]
    config = load_model(args.model).config
    shots = load_training_clips(list(TRAIN_CLIPS), config)
    photos = load_photos()
    losses: dict[str, list[float]] = {arm.name: [] for arm in arms}
    bar = tqdm(total=args.steps, initial=step, desc="train", unit="step")
    while step < args.steps:
        rng = np.random.Generator(np.random.PCG64([args.seed, step]))
        sampler = FootageSampler(config, rng, shots=shots, photos=photos)
        torch.manual_seed(args.seed * 100_003 + step)
        real, guess = training_batch(sampler, rng, args.batch)
        lr = args.lr * min(1.0, (step + 1) / 50)
        for arm in arms:
            for group in optimizers[arm.name].param_groups:
                group["lr"] = lr
            loss = arm.loss(real, guess)
            optimizers[arm.name].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(arm.module.parameters(), 1.0)
            optimizers[arm.name].step()
            losses[arm.name].append(loss.item())
        step += 1
        bar.update(1)
        bar.set_postfix({n: f"{np.mean(v[-20:]):.4f}" for n, v in losses.items()})
        if step % 100 == 0 or step == args.steps:
            state: dict = {"step": step}
            for arm in arms:
                state[arm.name] = arm.module.state_dict()
                state[f"{arm.name}_optimizer"] = optimizers[arm.name].state_dict()
            torch.save(state, state_path.with_suffix(".tmp"))
            state_path.with_suffix(".tmp").replace(state_path)
    bar.close()


@torch.no_grad()
def evaluate(arms: list[Arm], size: tuple[int, int]) -> dict[int, dict[str, list[float]]]:
    """PSNR (luma, hole frames, working size) per span of the guess and of each arm's perfect
    denoiser, for 3 cuts in each real evaluation clip."""
    results: dict[int, dict[str, list[float]]] = {s: {} for s in SPANS}
    for name in EVAL_CLIPS:
        frames, _ = load_clip(name)
        frames = resize_frames(frames, size)
        for span in SPANS:
            high = len(frames) - CONTEXT - -(-span // SEG) * SEG - SEG
            for start in sorted({round(x) for x in np.linspace(CONTEXT, high, 3)}):
                window = frames[start - CONTEXT :]
                fills: dict[str, list[np.ndarray]] = {"guess": []}
                for k in range(-(-span // SEG)):
                    real, guess, known = segment_example(window, span, k)
                    fills["guess"].append(guess)
                    x = torch.from_numpy(to_model_frames(real))
                    g = torch.from_numpy(to_model_frames(guess))
                    for arm in arms:
                        for column, fill in arm.fills(x, g).items():
                            frames_k = from_model_frames(fill.numpy())
                            frames_k[known] = real[known]
                            fills.setdefault(column, []).append(frames_k)
                truth = frames[start : start + span]
                for column, parts in fills.items():
                    filled = np.concatenate(parts)[:span]
                    results[span].setdefault(column, []).append(psnr(filled, truth))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_checkpoint_dir(), help="parent")
    parser.add_argument("--out", type=Path, default=Path("artifacts/cond-ae"), help="state folder")
    parser.add_argument(
        "--arms", default="control,conditional", help="control, conditional and/or residual"
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    parent = load_model(args.model)
    arms = make_arms(args.arms.split(","), parent.autoencoder, parent.config.ae_channels)
    for arm in arms:
        arm.module.train()
    train(args, arms)
    for arm in arms:
        arm.module.eval()
        if isinstance(arm, LatentChangeArm):  # a checkpoint for benchmarks/latent_ceiling.py
            with_arm = copy.deepcopy(parent)
            with_arm.autoencoder.load_state_dict(arm.module.state_dict())
            save_model(with_arm, args.out / f"{arm.name}-export")
    shipped = LatentChangeArm("shipped", parent.autoencoder.eval())
    size = (parent.config.height, parent.config.width)
    results = evaluate([shipped, *arms], size)

    columns = list(results[SPANS[0]])
    learned = [c for c in columns if c not in ("guess", "shipped")]
    table = Table(title=f"Perfect denoiser's fill, real evaluation clips at {size[1]}x{size[0]}")
    table.add_column("span")
    for column in columns:
        table.add_column(f"{column} dB", justify="right")
    table.add_column("best trained - guess", justify="right")
    for span, rows in results.items():
        means = {c: float(np.mean(rows[c])) for c in columns}
        best = max(means[c] for c in learned)
        table.add_row(
            f"{span} ({len(rows['guess'])} cuts)",
            *(f"{means[c]:.2f}" for c in columns),
            f"{best - means['guess']:+.2f}",
        )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
