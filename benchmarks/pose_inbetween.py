"""Can a small learned model give a walker the right pose in the middle of a hole? (CPU study)

The first guess carries a person through a hole on the right path but as a cross-dissolve of the
two poses seen in the end frames, and that is most of its remaining error on the simulated
cameras (MODEL_CARD.md; `guess_holes.py --walkers`: +0.21 dB from perfect paths, +1.5 from the
context pose nearest the stride). This study isolates the pose: tracking is given. Each sample
is one simulated worker (`gapfill.synth.drawing.draw_walker`, random size, colours and step
rate) drawn in place on black in 8 context frames before a 16-frame hole and 8 after; the target
is one hole frame. Printed, as PSNR over held-out samples (RGB, whole crop):
- dissolve: the two end poses cross-dissolved at the target's time, as the guess does;
- nearest phase (oracle): the context crop whose stride is nearest the target's, the truth's
  phase known; what copying poses from the context can reach;
- selector: learned. Softmax weights over the 16 context crops, from their pairwise distance
  matrix (which says how the poses repeat, whatever the worker looks like) and the target's
  frame number; its output is the weighted sum of the crops. It has to work out the stride's
  period and phase from frames sampled at 10 fps, about two per half-stride;
- cnn (--models cnn): learned. A small U-Net from the stacked crops and the target's time,
  painting pixels.

    .venv/bin/python benchmarks/pose_inbetween.py --seconds 300 --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import cv2
import numpy as np
import torch
from torch import nn

from gapfill.synth.drawing import Walker, draw_walker
from gapfill.synth.scene import _HELMET_COLOURS, _SKIN_COLOURS, _VEST_COLOURS  # the scene's own

CROP_H, CROP_W = 64, 40  # px; a worker is about 1.6 times as tall as the crop is wide
CONTEXT, SPAN, FPS = 8, 16, 10.0


def random_walker(rng: np.random.Generator) -> Walker:
    """A worker as the simulated cameras draw them, in mid-stride at a random phase."""
    return Walker(
        start_s=float(rng.uniform(-5, -1)),
        duration_s=1e9,
        direction=int(rng.choice([-1, 1])),
        speed=0.0,
        feet_y=0,  # set per frame by posed()
        height_px=int(rng.uniform(110, 220)),
        vest=tuple(int(c) for c in rng.choice(_VEST_COLOURS)),
        trousers=tuple(int(c) for c in rng.integers(20, 80, 3)),
        helmet=tuple(int(c) for c in rng.choice(_HELMET_COLOURS)),
        skin=tuple(int(c) for c in rng.choice(_SKIN_COLOURS)),
        step_hz=float(rng.uniform(0.8, 1.1)),
    )


def posed(walker: Walker, t: float, size: tuple[int, int] = (CROP_W, CROP_H)) -> np.ndarray:
    """The worker at time t, in place in its own crop of `size` (width, height): (height, width,
    3) uint8. benchmarks/pose_selection.py draws its clean walkers with it too."""
    h = walker.height_px
    width, height = int(0.62 * h), int(1.04 * h)
    canvas = np.zeros((height, width, 3), np.uint8)
    facing_right = dataclasses.replace(walker, direction=1, feet_y=int(1.02 * h))
    draw_walker(canvas, facing_right, t, x=width / 2)
    if walker.direction < 0:
        canvas = canvas[:, ::-1]
    return cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)


@dataclasses.dataclass
class Batch:
    context: torch.Tensor  # (B, 2·CONTEXT, 3, H, W) in [0,1]: 8 frames before the hole, 8 after
    frame: torch.Tensor  # (B,) long: the target's frame in the hole, 0..SPAN-1
    target: torch.Tensor  # (B, 3, H, W)
    nearest: torch.Tensor  # (B,) long: the context crop nearest the target's stride (oracle)


def make_batch(rng: np.random.Generator, size: int) -> Batch:
    # times in frames from the last real frame before the hole (0); the hole is 1..SPAN
    times = [*range(1 - CONTEXT, 1), *range(SPAN + 1, SPAN + 1 + CONTEXT)]
    contexts, frames, targets, nearest = [], [], [], []
    for _ in range(size):
        walker = random_walker(rng)
        k = int(rng.integers(SPAN))
        contexts.append(np.stack([posed(walker, f / FPS) for f in times]))
        targets.append(posed(walker, (k + 1) / FPS))
        frames.append(k)

        def stride(f: float, w: Walker = walker) -> float:  # legs and arms look alike: |swing|
            return abs(w.swing(f / FPS))

        nearest.append(min(range(len(times)), key=lambda i: abs(stride(times[i]) - stride(k + 1))))
    pixels = torch.from_numpy(np.stack(contexts)).float().div(255).permute(0, 1, 4, 2, 3)
    return Batch(
        pixels.contiguous(),
        torch.tensor(frames),
        torch.from_numpy(np.stack(targets)).float().div(255).permute(0, 3, 1, 2).contiguous(),
        torch.tensor(nearest),
    )


class Selector(nn.Module):
    """Weights over the context crops from their distance matrix and the target's frame."""

    def __init__(self, hidden: int = 256):
        super().__init__()
        crops = 2 * CONTEXT
        self.mlp = nn.Sequential(
            nn.Linear(crops * crops + SPAN, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, crops),
        )

    def forward(self, context: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        b, n = context.shape[:2]
        flat = context.reshape(b, n, -1)
        distance = torch.cdist(flat, flat) ** 2 / flat.shape[-1]  # (B, n, n)
        distance = distance / (distance.mean(dim=(1, 2), keepdim=True) + 1e-6)
        which = nn.functional.one_hot(frame, SPAN).float()
        weights = torch.softmax(self.mlp(torch.cat([distance.reshape(b, -1), which], 1)), 1)
        return (weights[:, :, None, None, None] * context).sum(1)


class PixelNet(nn.Module):
    """A small U-Net painting the target from the stacked crops and the target's time."""

    def __init__(self, width: int = 32):
        super().__init__()
        c, inputs = width, 2 * CONTEXT * 3 + 1

        def block(i: int, o: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(i, o, 3, stride, 1), nn.GELU(), nn.Conv2d(o, o, 3, 1, 1), nn.GELU()
            )

        self.down1, self.down2, self.down3 = (
            block(inputs, c),
            block(c, 2 * c, 2),
            block(2 * c, 2 * c, 2),
        )
        self.up2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, 1, 1), nn.GELU())
        self.up1 = nn.Sequential(nn.Conv2d(3 * c, c, 3, 1, 1), nn.GELU(), nn.Conv2d(c, 3, 3, 1, 1))

    def forward(self, context: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        b = context.shape[0]
        t = ((frame.float() + 1) / (SPAN + 1))[:, None, None, None].expand(b, 1, CROP_H, CROP_W)
        a = self.down1(torch.cat([context.reshape(b, -1, CROP_H, CROP_W), t], 1))
        m = self.down2(a)
        low = nn.functional.interpolate(self.down3(m), size=m.shape[-2:], mode="nearest")
        m = nn.functional.interpolate(self.up2(torch.cat([m, low], 1)), size=a.shape[-2:])
        return torch.sigmoid(self.up1(torch.cat([a, m], 1)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="training time per model")
    parser.add_argument("--models", default="selector", help="selector and/or cnn, comma list")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    held_out = make_batch(np.random.default_rng(123), 256)
    t = ((held_out.frame.float() + 1) / (SPAN + 1))[:, None, None, None]
    ends = held_out.context[:, CONTEXT - 1], held_out.context[:, CONTEXT]
    rows = {
        "dissolve (the guess's way)": psnr((1 - t) * ends[0] + t * ends[1], held_out.target),
        "nearest phase (oracle)": psnr(
            held_out.context[torch.arange(256), held_out.nearest], held_out.target
        ),
    }
    print(", ".join(f"{name} {db:.2f} dB" for name, db in rows.items()), flush=True)

    for name in args.models.split(","):
        model = {"selector": Selector, "cnn": PixelNet}[name]()
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(0)  # the training stream; the held-out samples use 123
        start, step = time.monotonic(), 0
        while time.monotonic() - start < args.seconds:
            batch = make_batch(rng, args.batch)
            loss = ((model(batch.context, batch.frame) - batch.target) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            if step % 500 == 0:
                with torch.no_grad():
                    db = psnr(model(held_out.context, held_out.frame), held_out.target)
                print(
                    f"{name} step {step} ({time.monotonic() - start:.0f} s): {db:.2f} dB",
                    flush=True,
                )
        with torch.no_grad():
            rows[f"{name}, {step} steps"] = psnr(
                model(held_out.context, held_out.frame), held_out.target
            )
    print(f"held-out samples: 256 (crops {CROP_W}x{CROP_H}, hole {SPAN} frames, PSNR RGB)")
    for name, db in rows.items():
        print(f"  {name:<32} {db:6.2f} dB")


if __name__ == "__main__":
    main()
