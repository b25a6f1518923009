"""Training footage for MALT: simulated fixed cameras and real clips, cut into gap examples.

Sources
- simulated cameras (gapfill.synth.scene): a fresh random scene seed and start frame per window,
  rendered at twice the working size and shrunk like real footage is;
- real clips given as files: decoded once with PyAV, split into shots, random crops and flips.
  Evaluation clips (gapfill.training.clips.EVAL_CLIPS and their copies) are refused by sha256;
- photo scenes (gapfill.training.photos): real still photographs moved like a camera's scene.

A gap example is a window of consecutive frames: `n_context` segments before the hole (they go
into the memory), a hole of `span` frames covering `n_gap` segments (the frames to predict; real
frames after the hole inside the last segment are given as known), and the 16 frames after the
hole (the anchor), dropped at random to teach the learned null anchor.

A training step's footage (StepFootageMaker) is made from a random stream seeded by the step
alone, so any process can make it, ahead of time (gapfill.training.footage_stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gapfill.errors import UserError
from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.guide import known_fraction
from gapfill.network.config import MaltConfig
from gapfill.synth.scene import Scene
from gapfill.training.clips import (
    ALL_CLIPS,
    EVAL_CLIPS,
    EXCLUDED_CLIPS,
    clip_path,
    load_clip,
    resize_frames,
    sha256_file,
)
from gapfill.training.photos import render_photo_window

# Simulated scenes used for training draw their seeds from [TRAIN_SEED_START, +1_000_000);
# evaluation uses seeds outside that range (benchmarks: 4242, 4243 and 2_000_000 on).
TRAIN_SEED_START = 100_000
SCENE_FPS_CHOICES = (7.5, 10.0, 12.5)
SCENE_LENGTH_FRAMES = 6000  # start frames are drawn from the first 10 minutes at 10 fps
TARGET_FPS = 10.0  # real clips are subsampled towards the product's nominal rate


@dataclass(frozen=True)
class RealShot:
    name: str
    frames: np.ndarray  # (T, H', W', 3) uint8, H' >= working height, W' >= working width
    fps: float


def load_training_clips(paths: list[str], config: MaltConfig) -> list[RealShot]:
    """Decode the training clips (registered names or paths), refusing evaluation footage."""
    banned = {info.sha256: name for name, info in {**EVAL_CLIPS, **EXCLUDED_CLIPS}.items()}
    shots: list[RealShot] = []
    for entry in paths:
        path = clip_path(entry)
        digest = sha256_file(Path(path))
        if digest in banned:
            raise UserError(f"{path}: is the evaluation clip {banned[digest]}; never train on it")
        frames, fps = load_clip(path)
        frames = _cover(frames, config)
        info = ALL_CLIPS.get(Path(path).name)
        ranges = info.shots if info and info.sha256 == digest else ((0, len(frames)),)
        for start, end in ranges:
            shots.append(RealShot(f"{Path(path).name}[{start}:{end}]", frames[start:end], fps))
    return shots


# Real frames are shrunk to just cover a working-size crop with this much slack (random crops).
COVER_SLACK = 1.15


def cover_size(height: int, width: int, config: MaltConfig) -> tuple[int, int]:
    """(H, W) that just covers a working-size crop with ~15% slack, aspect kept."""
    scale = max(config.height * COVER_SLACK / height, config.width * COVER_SLACK / width)
    return max(config.height, round(height * scale)), max(config.width, round(width * scale))


def _cover(frames: np.ndarray, config: MaltConfig) -> np.ndarray:
    return resize_frames(frames, cover_size(*frames.shape[1:3], config))


class FootageSampler:
    """Random windows of consecutive working-size frames: real clips, photo scenes, simulated."""

    def __init__(
        self,
        config: MaltConfig,
        rng: np.random.Generator,
        synth_seeds: tuple[int, int] | None = (TRAIN_SEED_START, TRAIN_SEED_START + 1_000_000),
        shots: list[RealShot] | None = None,
        real_fraction: float = 0.3,
        photos: list[np.ndarray] | None = None,
        photo_fraction: float = 0.5,
    ):
        if synth_seeds is None and not shots and not photos:
            raise UserError("training data: give simulated seeds, real clips or photos")
        self.config = config
        self.rng = rng
        self.synth_seeds = synth_seeds
        self.shots = shots or []
        self.real_fraction = real_fraction if synth_seeds is not None or photos else 1.0
        self.photos = photos or []
        # Share of the windows that are not from real clips: photo scenes rather than simulated.
        self.photo_fraction = photo_fraction if synth_seeds is not None else 1.0

    def window(self, length: int) -> np.ndarray:
        """(length, H, W, 3) uint8 consecutive frames."""
        if self.shots and self.rng.random() < self.real_fraction:
            frames = self._real_window(length)
            if frames is not None:
                return frames
        if self.photos and self.rng.random() < self.photo_fraction:
            c = self.config
            return render_photo_window(self.rng, self.photos, length, c.height, c.width)
        if self.synth_seeds is None:
            raise UserError(f"training data: no real shot has {length} frames; add --synth-seeds")
        return self._synth_window(length)

    def _synth_window(self, length: int) -> np.ndarray:
        c = self.config
        seed = int(self.rng.integers(*self.synth_seeds))
        fps = float(self.rng.choice(SCENE_FPS_CHOICES))
        start = int(self.rng.integers(0, SCENE_LENGTH_FRAMES))
        scene = Scene(seed, width=2 * c.width, height=2 * c.height, fps=fps)
        return resize_frames(scene.render(start, length), (c.height, c.width))

    def _real_window(self, length: int) -> np.ndarray | None:
        c = self.config
        choices = []
        for shot in self.shots:
            base = max(1, round(shot.fps / TARGET_FPS))
            for stride in {max(1, base - 1), base, base + 1}:
                if (length - 1) * stride < len(shot.frames):
                    choices.append((shot, stride))
        if not choices:
            return None
        shot, stride = choices[int(self.rng.integers(len(choices)))]
        start = int(self.rng.integers(0, len(shot.frames) - (length - 1) * stride))
        frames = shot.frames[start : start + (length - 1) * stride + 1 : stride]
        y = int(self.rng.integers(0, frames.shape[1] - c.height + 1))
        x = int(self.rng.integers(0, frames.shape[2] - c.width + 1))
        frames = frames[:, y : y + c.height, x : x + c.width]
        if self.rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        return np.ascontiguousarray(frames)


@dataclass
class GapExample:
    """One training example; frames uint8 (…, 16, H, W, 3), flags float32."""

    context: np.ndarray  # (n_context, 16, H, W, 3) real segments before the hole
    target: np.ndarray  # (n_gap, 16, H, W, 3) the real frames of the hole's segments
    guess: np.ndarray  # (n_gap, 16, H, W, 3) first guess (real where known)
    known: np.ndarray  # (n_gap, F) fraction of real frames per latent frame
    anchor: np.ndarray  # (16, H, W, 3) the frames after the hole (zeros when dropped)
    offsets: np.ndarray  # (n_gap,) segments from each hole segment to the anchor; -1: none


def gap_example(
    window: np.ndarray, config: MaltConfig, n_context: int, n_gap: int, span: int, has_anchor: bool
) -> GapExample:
    """Cut `window` (at least 16*n_context + span + 16 frames) into a gap example."""
    seg = config.segment_frames
    start = n_context * seg
    before = window[:start]
    after = window[start + span : start + span + seg] if has_anchor else window[:0]
    target = window[start : start + n_gap * seg]
    first_guess = MotionGuess(before, after, span)
    guesses, knowns, offsets = [], [], []
    for k in range(n_gap):
        guess, known = first_guess.frames(k * seg, seg)
        guesses.append(guess)
        knowns.append(known_fraction(known, config.time_down))
        offsets.append((span - k * seg) / seg if has_anchor else -1.0)
    return GapExample(
        context=before.reshape(n_context, seg, *window.shape[1:]),
        target=target.reshape(n_gap, seg, *window.shape[1:]),
        guess=np.stack(guesses),
        known=np.stack(knowns),
        anchor=after if has_anchor else np.zeros((seg, *window.shape[1:]), np.uint8),
        offsets=np.asarray(offsets, dtype=np.float32),
    )


def sample_gap_shape(
    rng: np.random.Generator, unroll: int, max_gap_segments: int = 4
) -> tuple[int, int]:
    """(n_context, n_gap) for an unroll of `unroll` segments."""
    n_gap = int(rng.integers(1, min(unroll, max_gap_segments) + 1))
    return unroll - n_gap, n_gap


def sample_span(rng: np.random.Generator, n_gap: int, segment_frames: int) -> int:
    """Frames missing in a hole that covers `n_gap` segments; short holes are common."""
    if n_gap == 1:
        # Log-uniform 1..16 frames: 1- and 4-frame holes matter as much as long ones.
        span = np.rint(np.exp(rng.uniform(0, np.log(segment_frames))))
        return int(np.clip(span, 1, segment_frames))
    return int(rng.integers((n_gap - 1) * segment_frames + 1, n_gap * segment_frames + 1))


# --- one training step's footage --------------------------------------------------------------
SamplerFactory = Callable[[MaltConfig, np.random.Generator], FootageSampler]
# Share of stage 2 examples whose hole has no footage after it (recording ended): the null anchor.
NULL_ANCHOR_SHARE = 0.1


@dataclass
class StepFootage:
    """The footage of one training step. Stage 1: `frames` (B, T, H, W, 3) windows. Stage 2:
    `frames` (B, n_context + 2 n_gap + 1, 16, H, W, 3), each example's context segments, target
    segments, first-guess segments and anchor, in that order."""

    frames: np.ndarray
    n_context: int = 0
    n_gap: int = 0
    offsets: np.ndarray | None = None  # (B, n_gap) segments to the anchor; -1: none
    known: np.ndarray | None = None  # (B, n_gap, F) fraction of real frames per latent frame


@dataclass(frozen=True)
class StepFootageMaker:
    """Makes step `step`'s footage from a random stream of its own, seeded by (seed, stage, step).

    The batch is then the same whichever process makes it and in whatever order, so the training
    loop can have steps made ahead by worker processes (a GPU outruns one CPU core making
    footage), and a resumed run needs no data state to continue the same stream.
    """

    config: MaltConfig
    sampler_factory: SamplerFactory
    seed: int
    stage: int
    ae_frames: int

    def __call__(self, step: int, batch: int, unroll: int) -> StepFootage:
        rng = np.random.Generator(np.random.PCG64([self.seed, self.stage, step]))
        sampler = self.sampler_factory(self.config, rng)
        if self.stage == 1:
            return StepFootage(np.stack([sampler.window(self.ae_frames) for _ in range(batch)]))
        seg = self.config.segment_frames
        n_context, n_gap = sample_gap_shape(rng, unroll)
        examples = []
        for _ in range(batch):
            span = sample_span(rng, n_gap, seg)
            # The null anchor (recording ended) needs footage before the hole.
            has_anchor = n_context == 0 or rng.random() >= NULL_ANCHOR_SHARE
            window = sampler.window(seg * n_context + span + seg)
            examples.append(gap_example(window, self.config, n_context, n_gap, span, has_anchor))
        return StepFootage(
            frames=np.stack(
                [np.concatenate([e.context, e.target, e.guess, e.anchor[None]]) for e in examples]
            ),
            n_context=n_context,
            n_gap=n_gap,
            offsets=np.stack([e.offsets for e in examples]),
            known=np.stack([e.known for e in examples]),
        )
