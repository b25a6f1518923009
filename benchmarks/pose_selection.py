"""Can a learned model choose, frame by frame, which context pose a person crossing a hole is in?

The first guess carries a paired object (a person crossing) along its path as a cross-dissolve of
its two end poses; `MotionFill.follow_poses` cuts the same object out of up to 8 context frames a
side and lines the cut-outs up with the path (gapfill/fill/pose_tracks.py), and
`Track.pose_weights` draws any mix of them instead. benchmarks/pose_inbetween.py showed that a
small selector learns the stride from clean, perfectly tracked crops; this is the same question on
the fill's own tracked poses, with the fill's own rendering.

A sample is one paired object in one frame of one hole: the crops of its context poses (zero where
it was not found), the frame and the hole's length, and for each choice (a context pose alone, or
the dissolve) the squared error of the rendered frame against the truth minus the dissolve's, per
pixel and channel (grey levels squared; negative is better). Samples come from simulated cameras
of MALT's training range (seeds from 100000), holes of 8-24 frames at frames 32 + i * span with 32
real frames each side; the last tenth of the cameras is held out.

Printed:
- oracle: the best choice with the truth known, per sample (the held-out cameras);
- selector: a two-layer MLP on the crops' pairwise distance matrix (how the poses repeat, whatever
  the person looks like), which context frames have a pose, the frame and the hole's length ->
  softmax weights over the 16 poses and the dissolve; trained to minimise the expected error of
  its choice, first on walkers drawn in place (`clean_samples`: plenty and cheap, the stride's
  structure) for a third of the time, then on the tracked samples, keeping the weights that did
  best on the held-out cameras (so its figure there flatters it; the whole holes below are
  other cameras again);
- whole holes (--holes seeds, 16 frames, luma PSNR as in guess_holes.py): the guess, the guess
  with the oracle's choices (a ceiling for tracked poses), with equal weights on all of a
  person's poses and the dissolve (their mean: what PSNR rewards when unsure, a blurred
  silhouette) and with the selector's weights.

    .venv/bin/python benchmarks/pose_selection.py --cameras 200 --minutes 3 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from pose_inbetween import posed, random_walker  # benchmarks/ is on the path of its scripts
from torch import nn

from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.metrics import psnr
from gapfill.fill.pose_tracks import CROP_H, CROP_W, POSE_CONTEXT, Pose
from gapfill.synth.scene import Scene

CONTEXT, POSITIONS, SIZE, FPS = 32, 4, (640, 360), 10.0
MIN_HOLE, MAX_HOLE = 8, 24
SLOTS = 2 * POSE_CONTEXT  # slot j < 8: before[-1-j]; slot 8 + j: after[j]
FIRST_SEED = 100_000  # MALT's simulated training seeds start here
CLEAN_MISSING = 0.25  # share of clean poses dropped, about as many as tracking loses
CLEAN_SAMPLES = 20_000  # about 100 s to draw
log = logging.getLogger("pose_selection")
HOLE_ROWS = ("guess", "oracle poses", "mean pose", "selector")


# --- samples ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Samples:
    crops: np.ndarray  # (N, S, CROP_H, CROP_W) float16, zero where no pose was found
    found: np.ndarray  # (N, S) bool
    frame: np.ndarray  # (N,) int64, 0 .. n_missing-1
    n_missing: np.ndarray  # (N,) int64
    gain: np.ndarray  # (N, S + 1) float32: each choice's error minus the dissolve's (the last)

    @staticmethod
    def join(parts: list[Samples]) -> Samples:
        columns = zip(*(vars(part).values() for part in parts), strict=True)
        return Samples(*(np.concatenate(column) for column in columns))

    def take(self, rows: np.ndarray) -> Samples:
        return Samples(*(column[rows] for column in vars(self).values()))


def slots_of(poses: list[Pose], n_missing: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A pair's poses in slots: crops (S, CROP_H, CROP_W), found (S,), and each pose's slot."""
    slots = [-p.frame if p.frame <= 0 else POSE_CONTEXT + p.frame - n_missing - 1 for p in poses]
    crops = np.zeros((SLOTS, CROP_H, CROP_W), np.float32)
    found = np.zeros(SLOTS, bool)
    for pose, slot in zip(poses, slots, strict=True):
        crops[slot], found[slot] = pose.crop, True
    return crops, found, slots


def choice_errors(guess: MotionGuess, truth: np.ndarray, item, k: int) -> list[float]:
    """Hole frame k's squared error per pixel and channel with each choice of `item` alone
    (its poses, then the dissolve); the other objects keep the dissolve."""
    weights = np.zeros((guess.n_missing, len(item.poses) + 1), np.float32)
    weights[:, -1] = 1
    item.pose_weights = weights
    errors = []
    for choice in range(len(item.poses) + 1):
        weights[k] = 0
        weights[k, choice] = 1
        guess.base.forget_frames()
        frame = guess.frames(k, 1)[0][0].astype(np.float32)
        errors.append(float(((frame - truth[k]) ** 2).mean()))
    item.pose_weights = None
    guess.base.forget_frames()
    return errors


def camera_samples(seed: int) -> Samples | None:
    """Samples from POSITIONS holes of one simulated camera, the span drawn by the seed."""
    span = int(np.random.default_rng(seed).integers(MIN_HOLE, MAX_HOLE + 1))
    video = Scene(seed, *SIZE, FPS).render(0, 2 * CONTEXT + POSITIONS * span)
    rows = []
    for i in range(POSITIONS):
        start = CONTEXT + i * span
        guess = MotionGuess(video[start - CONTEXT : start], video[start + span :][:CONTEXT], span)
        truth = video[start : start + span]
        for item in guess.base.follow_poses():
            crops, found, slots = slots_of([pose for pose, _, _ in item.poses], span)
            for k in range(span):
                errors = choice_errors(guess, truth, item, k)
                gain = np.zeros(SLOTS + 1, np.float32)
                gain[slots] = np.array(errors[:-1]) - errors[-1]
                rows.append((crops.astype(np.float16), found, k, span, gain))
    return Samples(*(np.stack(c) for c in zip(*rows, strict=True))) if rows else None


def clean_samples(rng: np.random.Generator, count: int) -> Samples:
    """Walkers drawn in place (tracking perfect; pose_inbetween.py's) as samples of the same
    form; gains per crop pixel."""
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    rows = []
    for _ in range(count):
        walker = random_walker(rng)
        n = int(rng.integers(MIN_HOLE, MAX_HOLE + 1))
        k = int(rng.integers(n))
        times = [-j for j in range(POSE_CONTEXT)] + [n + 1 + j for j in range(POSE_CONTEXT)]
        crops = np.stack([posed(walker, f / FPS, (CROP_W, CROP_H)) @ luma for f in times])
        target = posed(walker, (k + 1) / FPS, (CROP_W, CROP_H)) @ luma
        t = (k + 1) / (n + 1)
        dissolve = (1 - t) * crops[0] + t * crops[POSE_CONTEXT]
        found = rng.random(SLOTS) >= CLEAN_MISSING
        found[[0, POSE_CONTEXT]] = True  # the end objects themselves are always there
        errors = ((crops - target) ** 2).mean(axis=(1, 2)) - ((dissolve - target) ** 2).mean()
        gain = np.zeros(SLOTS + 1, np.float32)
        gain[:SLOTS] = np.where(found, errors, 0)
        seen = np.where(found[:, None, None], crops / 255 + rng.normal(0, 0.02, crops.shape), 0)
        rows.append((seen.astype(np.float16), found, k, n, gain))
    return Samples(*(np.stack(c) for c in zip(*rows, strict=True)))


# --- the selector -----------------------------------------------------------------------------
def pose_distances(crops: torch.Tensor, found: torch.Tensor) -> torch.Tensor:
    """(B, S, S) mean squared differences of the crops over their mean among found pairs."""
    flat = crops.flatten(2).float()
    distance = torch.cdist(flat, flat) ** 2 / flat.shape[-1]
    both = found[:, :, None] & found[:, None, :] & ~torch.eye(found.shape[1], dtype=torch.bool)
    mean = (distance * both).sum(dim=(1, 2)) / both.sum(dim=(1, 2)).clamp(min=1)
    return torch.where(both, distance / (mean[:, None, None] + 1e-6), 0.0)


class Selector(nn.Module):
    def __init__(self, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(SLOTS * SLOTS + SLOTS + 2 * MAX_HOLE, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, SLOTS + 1),
        )

    def forward(self, crops, found, frame, n_missing) -> torch.Tensor:
        b = crops.shape[0]
        inputs = torch.cat(
            [
                pose_distances(crops, found).reshape(b, -1),
                found.float(),
                nn.functional.one_hot(frame, MAX_HOLE).float(),
                nn.functional.one_hot(n_missing - 1, MAX_HOLE).float(),
            ],
            dim=1,
        )
        usable = torch.cat([found, torch.ones(b, 1, dtype=torch.bool)], dim=1)
        return torch.softmax(self.mlp(inputs).masked_fill(~usable, -torch.inf), dim=1)

    def weigh(self, samples: Samples) -> torch.Tensor:
        return self(
            torch.from_numpy(samples.crops).float(),
            torch.from_numpy(samples.found),
            torch.from_numpy(samples.frame),
            torch.from_numpy(samples.n_missing),
        )


def expected_gain(model: Selector, samples: Samples, scaled: bool = False) -> torch.Tensor:
    """Mean expected gain of the weights (negative is better); scaled: each sample's gains over
    its largest, so that a few big people do not drown the rest while training."""
    gain = torch.from_numpy(samples.gain)
    if scaled:
        gain = gain / (gain.abs().amax(dim=1, keepdim=True) + 1e-6)
    return (model.weigh(samples) * gain).sum(1).mean()


def fit(model: Selector, samples: Samples, seconds: float, check: Samples | None = None) -> int:
    """Train for `seconds`; with `check`, keep the weights that do best there. Returns steps."""
    rng = np.random.default_rng(0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    best, best_state = np.inf, None
    start, step = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        rows = rng.choice(len(samples.frame), size=min(256, len(samples.frame)), replace=False)
        loss = expected_gain(model, samples.take(rows), scaled=True)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % 200 == 0 and check is not None:
            with torch.no_grad():
                held = float(expected_gain(model, check))
            log.info("step %d: held-out %.4f", step, held)
            if held < best:
                best, best_state = held, {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return step


# --- whole holes --------------------------------------------------------------------------------
def hole_scores(seed: int, start: int, span: int, model: Selector) -> tuple[float, ...]:
    """PSNR of one hole: the guess, with the oracle's choices, with equal weights on every pose
    and the dissolve (their mean: a blurred silhouette), with the selector's weights."""
    video = Scene(seed, *SIZE, FPS).render(0, start + span + CONTEXT)
    guess = MotionGuess(video[start - CONTEXT : start], video[start + span :], span)
    truth = video[start : start + span]
    plain = psnr(guess.frames(0, span)[0], truth)
    items = guess.base.follow_poses()
    best = []
    for item in items:
        picks = [int(np.argmin(choice_errors(guess, truth, item, k))) for k in range(span)]
        best.append(np.eye(len(item.poses) + 1, dtype=np.float32)[picks])
    for item, weights in zip(items, best, strict=True):
        item.pose_weights = weights
    guess.base.forget_frames()
    oracle = psnr(guess.frames(0, span)[0], truth)
    for item in items:
        item.pose_weights = np.full((span, len(item.poses) + 1), 1 / (len(item.poses) + 1))
    guess.base.forget_frames()
    mean = psnr(guess.frames(0, span)[0], truth)
    for item in items:
        crops, found, slots = slots_of([pose for pose, _, _ in item.poses], span)
        with torch.no_grad():
            weights = model(
                torch.from_numpy(crops)[None].expand(span, -1, -1, -1),
                torch.from_numpy(found)[None].expand(span, -1),
                torch.arange(span),
                torch.full((span,), span),
            ).numpy()
        item.pose_weights = np.concatenate([weights[:, slots], weights[:, -1:]], axis=1)
    guess.base.forget_frames()
    return plain, oracle, mean, psnr(guess.frames(0, span)[0], truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=200, help="simulated training cameras")
    parser.add_argument("--minutes", type=float, default=3.0, help="selector training time")
    parser.add_argument("--workers", type=int, default=2, help="processes making samples")
    parser.add_argument("--holes", default="2000000-2000003", help="seeds A-B for whole holes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    torch.manual_seed(0)

    started = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(camera_samples, range(FIRST_SEED, FIRST_SEED + args.cameras)))
    cut = int(0.9 * len(parts))
    if not any(parts[:cut]) or not any(parts[cut:]):
        parser.error(f"--cameras {args.cameras}: too few for people in both parts; use more")
    train = Samples.join([p for p in parts[:cut] if p is not None])
    check = Samples.join([p for p in parts[cut:] if p is not None])
    print(
        f"samples: {len(train.frame)} from {cut} cameras, {len(check.frame)} held out from "
        f"{len(parts) - cut} ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    model = Selector()
    clean_steps = fit(
        model, clean_samples(np.random.default_rng(1), CLEAN_SAMPLES), args.minutes * 20
    )
    steps = fit(model, train, args.minutes * 40, check)
    with torch.no_grad():
        weights = model.weigh(check)
        picked = nn.functional.one_hot(weights.argmax(1), SLOTS + 1).float()
        rows = {
            "oracle (truth known)": float(np.minimum(check.gain, 0).min(1).mean()),
            f"selector, expected ({clean_steps} clean + {steps} tracked steps)": float(
                (weights * torch.from_numpy(check.gain)).sum(1).mean()
            ),
            "selector, its top choice": float(
                (picked * torch.from_numpy(check.gain)).sum(1).mean()
            ),
        }
        dissolve = float((weights.argmax(1) == SLOTS).float().mean())
    print("held-out samples, squared error against the dissolve's (grey levels^2, - is better):")
    for name, value in rows.items():
        print(f"  {name:<52} {value:+.3f}")
    print(f"  the selector's top choice is the dissolve in {dissolve:.0%} of them")

    first, last = (int(x) for x in args.holes.split("-"))
    scores = []
    for seed in range(first, last + 1):
        for i in range(POSITIONS):
            start = CONTEXT + i * 16
            scores.append(hole_scores(seed, start, 16, model.eval()))
            print(
                f"seed {seed} hole {start}:{start + 16}  "
                + "  ".join(f"{n} {db:.2f}" for n, db in zip(HOLE_ROWS, scores[-1], strict=True)),
                flush=True,
            )
    means = np.mean(scores, axis=0)
    print(
        f"span 16: {len(scores)} holes, "
        + ", ".join(f"{n} {db:.3f}" for n, db in zip(HOLE_ROWS, means, strict=True))
        + " (dB)"
    )


if __name__ == "__main__":
    main()
