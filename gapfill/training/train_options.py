"""What a training run is asked to do (`gapfill train`'s options), and its curriculum: how many
segments stage 2 unrolls at each step and how many examples that leaves in a batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainOptions:
    out: Path
    stage: int
    steps: int
    seed: int = 0
    batch: int = 4  # stage 1 windows; stage 2 is scaled per unroll length (see batch_for_unroll)
    lr: float = 3e-4
    checkpoint_every: int = 200
    log_every: int = 10
    bptt: int = 4
    memory_noise: bool = True
    warmup: int = 200
    ema_decay: float = 0.999
    ae_frames: int = 8
    # (first step, unroll) pairs; None: 2 segments for the first quarter, 4 until 60%, then 8.
    curriculum: tuple[tuple[int, int], ...] | None = None
    # Start from this exported checkpoint's weights (fine-tuning) instead of fresh ones (stage 1)
    # or a fresh denoiser on OUT/stage1.pt's autoencoder (stage 2). Its configuration replaces
    # the one given.
    init: Path | None = None
    # Also train on scenes made from real photographs (gapfill.training.photos).
    photos: bool = False
    device: str = "cpu"  # torch device of the model and its inputs (gapfill.runtime.device)
    workers: int = 0  # processes making footage ahead of the model (footage_stream.py)
    # Stop with a checkpoint after this many minutes (a GPU lease, a night's window); --resume
    # continues from there. None: train until `steps`.
    minutes: float | None = None
    # Stage 2 from scratch: the autoencoder of this checkpoint folder (a stage-1 export, or the
    # autoencoder alone as `publish --autoencoder-only` writes it) instead of OUT/stage1.pt.
    autoencoder: Path | None = None
    # Data echoing (Choi et al. 2019): each batch of footage trains this many consecutive steps,
    # with fresh diffusion times, noise and memory-noise levels. Stage 2 encodes it once: on the
    # CPU the frozen encoder is most of a step, on a GPU making the footage is.
    echo: int = 1


def unroll_for_step(
    step: int, total: int, curriculum: tuple[tuple[int, int], ...] | None = None
) -> int:
    """Segments unrolled at `step`: the curriculum 2 -> 4 -> 8."""
    curriculum = default_curriculum(total) if curriculum is None else curriculum
    unroll = curriculum[0][1]
    for first_step, length in curriculum:
        if step >= first_step:
            unroll = length
    return unroll


def batch_for_unroll(batch: int, unroll: int) -> int:
    # Keep segments per step roughly constant as the unroll grows.
    return max(1, batch * 4 // unroll)


def default_curriculum(total: int) -> tuple[tuple[int, int], ...]:
    """2 segments for the first quarter of `total` steps, 4 until 60%, then 8."""
    return ((0, 2), (int(total * 0.25), 4), (int(total * 0.6), 8))


def largest_unroll(total: int, curriculum: tuple[tuple[int, int], ...] | None = None) -> int:
    """The most segments any of steps 0 .. total-1 unrolls (the footage a run needs at least),
    for a curriculum in ascending order as --curriculum takes it: without walking every step,
    which a fine-tune's large --steps under --minutes would make slow."""
    curriculum = default_curriculum(total) if curriculum is None else curriculum
    reached = [length for first_step, length in curriculum if first_step < total]
    return max([curriculum[0][1], *reached])
