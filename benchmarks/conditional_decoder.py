"""Would an autoencoder that is given the first guess lift MALT's ceiling? An experiment, two arms.

MALT's fill is the first guess plus a change the denoiser makes in the latent, decoded as
`guess + D(z) - D(E(guess))`. With the real segment's latent in place of a sampled one (a perfect
denoiser) that is `guess + D(E(x)) - D(E(guess))`: wrong wherever the autoencoder's errors on the
real frames and on the guess differ, which is everywhere the guess is wrong. The shipped
autoencoder reconstructs real footage at about 20 dB, worse than the guess itself from 4-frame
holes on, so a perfect denoiser gains only +0.5-0.8 dB over the guess at 16 frames
(benchmarks/latent_ceiling.py).

Learned video codecs code a frame *given* a prediction of it (conditional coding): the decoder
sees the prediction and the latent need only carry what it gets wrong. The arm `conditional` is
the shipped autoencoder with the segment's first guess added to its encoder's and decoder's input
(convolutions that start at zero, so at step 0 it is the shipped autoencoder) and an output skip
that can copy the guess; a perfect denoiser's fill is then `D(E(x, guess), guess)` (column
`conditional`), or that with the residual trick, `guess + D(E(x, g), g) - D(E(g, g), g)`. The arm
`control` is the same autoencoder fine-tuned the same steps on the same batches without the guess.
Both train on training footage only (simulated cameras, photo scenes, the training clips); the
table is the perfect denoiser's fill on the real evaluation clips at the working size.

    .venv/bin/python benchmarks/conditional_decoder.py --steps 1000 --out artifacts/cond-ae
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

from gapfill.model.autoencoder import (
    Autoencoder,
    depth_to_space,
    depth_to_time,
    space_to_depth,
    stage1_loss,
)
from gapfill.model.baselines import FirstGuess
from gapfill.model.checkpoint import load_model
from gapfill.model.clips import EVAL_CLIPS, TRAIN_CLIPS, load_clip, resize_frames
from gapfill.model.config import default_checkpoint_dir
from gapfill.model.data import FootageSampler, load_training_clips
from gapfill.model.generate import from_model_frames, to_model_frames
from gapfill.model.metrics import psnr
from gapfill.model.photos import load_photos

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


def train(args: argparse.Namespace, control: Autoencoder, cond: ConditionalAutoencoder) -> None:
    state_path = args.out / "state.pt"
    params = {"control": control, "conditional": cond}
    optimizers = {
        name: torch.optim.AdamW(m.parameters(), lr=args.lr, weight_decay=0.0)
        for name, m in params.items()
    }
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        for name, m in params.items():
            m.load_state_dict(state[name])
            optimizers[name].load_state_dict(state[f"{name}_optimizer"])
        step = state["step"]
    config = load_model(args.model).config
    shots = load_training_clips(list(TRAIN_CLIPS), config)
    photos = load_photos()
    losses = {name: [] for name in params}
    bar = tqdm(total=args.steps, initial=step, desc="train", unit="step")
    while step < args.steps:
        rng = np.random.Generator(np.random.PCG64([args.seed, step]))
        sampler = FootageSampler(config, rng, shots=shots, photos=photos)
        torch.manual_seed(args.seed * 100_003 + step)
        real, guess = training_batch(sampler, rng, args.batch)
        lr = args.lr * min(1.0, (step + 1) / 50)
        for name, model in params.items():
            for group in optimizers[name].param_groups:
                group["lr"] = lr
            if name == "control":
                mean, logvar = model.encoder(real)
                z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
                recon = model.decode(z)
            else:
                mean, logvar = model.encode_stats(real, guess)
                z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
                recon = model.decode(z, guess)
            loss, _ = stage1_loss(recon, real, mean, logvar)
            optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizers[name].step()
            losses[name].append(loss.item())
        step += 1
        bar.update(1)
        bar.set_postfix({n: f"{np.mean(v[-20:]):.4f}" for n, v in losses.items()})
        if step % 100 == 0 or step == args.steps:
            state = {"step": step}
            for name, m in params.items():
                state[name] = m.state_dict()
                state[f"{name}_optimizer"] = optimizers[name].state_dict()
            torch.save(state, state_path.with_suffix(".tmp"))
            state_path.with_suffix(".tmp").replace(state_path)
    bar.close()


@torch.no_grad()
def evaluate(shipped: Autoencoder, control: Autoencoder, cond: ConditionalAutoencoder, size):
    """Mean PSNR (luma, hole frames, working size) per span of the guess and each arm's perfect
    denoiser, over 3 cuts in each real evaluation clip."""
    results: dict[int, dict[str, list[float]]] = {s: {} for s in SPANS}
    for name in EVAL_CLIPS:
        frames, _ = load_clip(name)
        frames = resize_frames(frames, size)
        for span in SPANS:
            high = len(frames) - CONTEXT - -(-span // SEG) * SEG - SEG
            for start in sorted({round(x) for x in np.linspace(CONTEXT, high, 3)}):
                window = frames[start - CONTEXT :]
                truth = frames[start : start + span]
                fills: dict[str, list[np.ndarray]] = {}
                for k in range(-(-span // SEG)):
                    real, guess, known = segment_example(window, span, k)
                    x, g = (
                        torch.from_numpy(to_model_frames(real)),
                        torch.from_numpy(to_model_frames(guess)),
                    )
                    for arm, model in (("shipped", shipped), ("control", control)):
                        change = model.decode(model.encode(x)) - model.decode(model.encode(g))
                        fills.setdefault(arm, []).append(_keep_known(g + change, real, known))
                    decoded = cond.decode(cond.encode_stats(x, g)[0], g)
                    fills.setdefault("conditional", []).append(_keep_known(decoded, real, known))
                    own = cond.decode(cond.encode_stats(g, g)[0], g)  # the guess's own decoding
                    fills.setdefault("cond. residual", []).append(
                        _keep_known(g + decoded - own, real, known)
                    )
                    fills.setdefault("guess", []).append(guess)
                for arm, parts in fills.items():
                    filled = np.concatenate(parts)[:span]
                    results[span].setdefault(arm, []).append(psnr(filled, truth))
    return results


def _keep_known(x: torch.Tensor, real: np.ndarray, known: np.ndarray) -> np.ndarray:
    frames = from_model_frames(x.numpy())
    frames[known] = real[known]
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_checkpoint_dir(), help="parent")
    parser.add_argument("--out", type=Path, default=Path("artifacts/cond-ae"), help="state folder")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    parent = load_model(args.model)
    shipped = parent.autoencoder.eval()
    control = copy.deepcopy(shipped).train()
    cond = ConditionalAutoencoder(shipped, parent.config.ae_channels).train()
    train(args, control, cond)
    size = (parent.config.height, parent.config.width)
    results = evaluate(shipped, control.eval(), cond.eval(), size)

    table = Table(title=f"Perfect denoiser's fill, real evaluation clips at {size[1]}x{size[0]}")
    arms = ("guess", "shipped", "control", "conditional", "cond. residual")
    table.add_column("span")
    for arm in arms:
        table.add_column(f"{arm} dB", justify="right")
    table.add_column("best conditional - guess", justify="right")
    for span, rows in results.items():
        means = {arm: float(np.mean(rows[arm])) for arm in arms}
        table.add_row(
            f"{span} ({len(rows['guess'])} cuts)",
            *(f"{means[a]:.2f}" for a in arms),
            f"{max(means['conditional'], means['cond. residual']) - means['guess']:+.2f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
