"""Training MALT: stage 1 the autoencoder, stage 2 the denoiser and the memory (autoencoder frozen).

Stage 2 unrolls K segments per example (curriculum 2 -> 4 -> 8): the context segments are read
into the memory, then each hole segment is denoised from a random diffusion time with the memory,
the anchor and the first guess, and the memory is updated with that segment's real latent
(teacher forcing) plus noise of a random level that the denoiser is told (MALT's noise
augmentation, so that generation errors do not accumulate). Gradients flow through the memory
for `bptt` segments (truncated backpropagation through time).

The diffusion noise comes from one torch.Generator seeded by --seed and saved in each checkpoint;
each step's footage from a numpy stream of its own, seeded by (seed, stage, step)
(data.StepFootageMaker), which worker processes can make ahead (footage_stream.py). A resumed run
continues exactly where it stopped. The generator and the footage stay on the CPU; only the model
and its inputs move to the training device (`--device`), so a run draws the same noise and
footage on a GPU as on the CPU.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from gapfill.errors import UserError
from gapfill.media.encode import atomic_write_bytes
from gapfill.network.checkpoint import load_model, read_weights, save_model
from gapfill.network.config import MaltConfig, read_config
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.diffusion import add_noise, predicted_z0, sample_times, v_target
from gapfill.network.malt import Malt
from gapfill.training.data import (
    FootageSampler,
    RealShot,
    SamplerFactory,
    StepFootage,
    StepFootageMaker,
)
from gapfill.training.footage_stream import FootageStream
from gapfill.training.photos import load_photos
from gapfill.training.train_options import TrainOptions, batch_for_unroll, unroll_for_step

log = logging.getLogger("gapfill.train")

# Diffusion times from here to 1 are where the one-step sampler the checkpoints ship with works
# (it starts from pure noise): the training log reports what share of the clean sample's power
# the model's prediction of it misses there ("one-step miss": 1 predicts nothing, 0 everything).
# The loss averages every time, and most of its fall is the easy, nearly clean ones.
SAMPLER_REGION = 0.9


@dataclass
class EncodedFootage:
    """A stage 2 batch through the frozen encoder: what data echoing reuses."""

    z_all: torch.Tensor  # (B, n_context + 2 n_gap + 1, C, T', h, w): context, target, guess, anchor
    offsets: torch.Tensor  # (B, n_gap): the anchor's distance in segments, -1 without one
    known: torch.Tensor  # (B, n_gap, T'): share of each latent frame's source frames that are real
    n_context: int
    n_gap: int

    @property
    def targets(self) -> torch.Tensor:
        """(B, n_gap, C, T', h, w): the real latents of the hole's segments."""
        return self.z_all[:, self.n_context : self.n_context + self.n_gap]

    @property
    def guesses(self) -> torch.Tensor:
        """(B, n_gap, C, T', h, w): the latents of the first guess of the same segments."""
        return self.z_all[:, self.n_context + self.n_gap : self.n_context + 2 * self.n_gap]


def without_memory_noise(config: MaltConfig, memory_noise: bool) -> MaltConfig:
    """`config` as trained: the ablation (memory_noise False) zeroes both memory-noise levels."""
    if memory_noise:
        return config
    return replace(config, memory_noise_max=0.0, memory_noise_generate=0.0)


def autoencoder_sizes(config: MaltConfig) -> tuple:
    """The fields that shape the autoencoder's weights and latent."""
    c = config
    return (c.height, c.width, c.segment_frames, c.time_down, c.space_down, c.latent_channels,
            tuple(c.ae_channels))  # fmt: skip


class Trainer:
    def __init__(self, options: TrainOptions, config: MaltConfig, sampler_factory: SamplerFactory):
        self.options = options
        self.config = config
        self.out = Path(options.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(options.device)
        torch.manual_seed(options.seed)
        self.model = Malt(config)
        self.generator = torch.Generator().manual_seed(options.seed + 1)
        # Must pickle (a module-level function or a partial) when workers make the footage.
        self.sampler_factory = sampler_factory
        self.step = 0
        self._setup_optimizer()
        # Squared error and power of z0 at t >= SAMPLER_REGION, summed on the device until the
        # log reads them (no GPU sync each step).
        self.one_step_miss = torch.zeros(2, device=self.device)

    # Setup -----------------------------------------------------------------------------------
    def _trainable(self) -> list[torch.nn.Parameter]:
        if self.options.stage == 1:
            return list(self.model.autoencoder.parameters())
        self.model.autoencoder.requires_grad_(False)
        return list(self.model.denoiser.parameters()) + list(self.model.memory.parameters())

    def _setup_optimizer(self) -> None:
        self.model.to(self.device)
        self.optimizer = torch.optim.AdamW(
            self._trainable(), lr=self.options.lr, betas=(0.9, 0.99), weight_decay=0.01
        )
        self.ema = copy.deepcopy(self.model.state_dict())

    def start_stage2_from(self, stage1_path: Path) -> None:
        """Take the autoencoder of a finished stage 1 (its EMA weights: OUT/stage1.pt or a
        checkpoint folder) and measure latent_scale, then residual_scale."""
        trained, weights = _stage1_autoencoder(stage1_path)
        if autoencoder_sizes(trained) != autoencoder_sizes(self.config):
            raise UserError(
                f"{stage1_path}: its autoencoder has other sizes than this run's configuration; "
                "give stage 2 the same --config as stage 1"
            )
        ae_state = {
            k[len("autoencoder.") :]: v.float()
            for k, v in weights.items()
            if k.startswith("autoencoder.")
        }
        try:
            self.model.autoencoder.load_state_dict(ae_state)
        except RuntimeError:
            raise UserError(f"{stage1_path}: holds no complete autoencoder") from None
        self._set_config(latent_scale=self._measure_latent_scale())
        if self.config.residual:
            self._set_config(residual_scale=self._measure_residual_scale())
        self._setup_optimizer()
        log.info(
            "stage 2 starts from %s; latent_scale %.4f, residual_scale %.4f",
            stage1_path,
            self.config.latent_scale,
            self.config.residual_scale,
        )

    def _set_config(self, **changes: float) -> None:
        self.config = replace(self.config, **changes)
        self.model.config = self.config

    def start_from_checkpoint(self, folder: Path) -> None:
        """Fine-tuning: every weight (and latent_scale) from an exported checkpoint."""
        parent = load_model(folder)
        # Fine-tuning always trains the residual parameterisation (config.residual); a parent
        # that diffused the latent itself learns to diffuse the change to its guess instead.
        self.config = without_memory_noise(
            replace(parent.config, residual=True), self.options.memory_noise
        )
        parent.config = self.config
        self.model = parent.train()
        self._setup_optimizer()
        log.info("stage %d starts from the checkpoint %s", self.options.stage, folder)

    @torch.no_grad()
    def _measure_latent_scale(self, windows: int = 16) -> float:
        seg = self.config.segment_frames
        sampler = self.sampler_factory(
            self.config, np.random.Generator(np.random.PCG64(self.options.seed + 2))
        )
        frames = np.stack([sampler.window(seg) for _ in range(windows)])
        z = self.model.autoencoder.encode(self._tensor(frames))
        return float(1.0 / z.std().clamp(min=1e-3))

    @torch.no_grad()
    def _measure_residual_scale(self, batches: int = 8) -> float:
        # Batches of a stream of their own, so the run's first batches stay what they were.
        maker = StepFootageMaker(
            self.config, self.sampler_factory, self.options.seed + 3, 2, self.options.ae_frames
        )
        changes = []
        for step in range(batches):
            encoded = self.encode_footage(maker(step, *self.plan(0)))
            changes.append((encoded.targets - encoded.guesses).flatten())  # holes differ in length
        return float(1.0 / torch.cat(changes).std().clamp(min=1e-3))

    # Steps -----------------------------------------------------------------------------------
    def plan(self, step: int) -> tuple[int, int]:
        """(windows or examples, unroll) of `step`: stage 2 follows the curriculum."""
        o = self.options
        if o.stage == 1:
            return o.batch, 1
        unroll = unroll_for_step(step, o.steps, o.curriculum)
        return batch_for_unroll(o.batch, unroll), unroll

    def footage_maker(self) -> StepFootageMaker:
        o = self.options
        return StepFootageMaker(self.config, self.sampler_factory, o.seed, o.stage, o.ae_frames)

    def stage1_step(self, footage: StepFootage | None = None) -> tuple[torch.Tensor, int]:
        if footage is None:  # made here, on demand (tests; no stream)
            footage = self.footage_maker()(self.step, *self.plan(self.step))
        loss, _ = self.model.autoencoder.loss(self._tensor(footage.frames), self.generator)
        return loss, len(footage.frames)

    def stage2_step(self, footage: StepFootage | None = None) -> tuple[torch.Tensor, int]:
        if footage is None:  # made here, on demand (tests; no stream)
            footage = self.footage_maker()(self.step, *self.plan(self.step))
        return self.stage2_loss(self.encode_footage(footage))

    @torch.no_grad()
    def encode_footage(self, footage: StepFootage) -> EncodedFootage:
        """Every real segment and guess of the batch through the frozen encoder, in one pass."""
        assert footage.offsets is not None and footage.known is not None
        batch, n_context, n_gap = len(footage.frames), footage.n_context, footage.n_gap
        segments = footage.frames.reshape(-1, *footage.frames.shape[2:])
        # (batch * (n_context + 2 n_gap + 1), 16, H, W, 3)
        z_all = torch.cat(
            [self.model.encode(self._tensor(chunk)) for chunk in _chunks(segments, 16)]
        )
        return EncodedFootage(
            z_all=z_all.reshape(batch, n_context + 2 * n_gap + 1, *self.config.latent_shape),
            offsets=self._on_device(torch.from_numpy(footage.offsets)),
            known=self._on_device(torch.from_numpy(footage.known)),
            n_context=n_context,
            n_gap=n_gap,
        )

    def stage2_loss(self, encoded: EncodedFootage) -> tuple[torch.Tensor, int]:
        c, o = self.config, self.options
        z_all, offsets, known = encoded.z_all, encoded.offsets, encoded.known
        batch, n_context, n_gap = len(z_all), encoded.n_context, encoded.n_gap
        z_context = z_all[:, :n_context]
        z_target, z_guess = encoded.targets, encoded.guesses
        z_anchor = z_all[:, -1]
        z_anchor = z_anchor * (offsets[:, :1] >= 0).float().reshape(batch, 1, 1, 1, 1)

        level_max = c.memory_noise_max if o.memory_noise else 0.0
        level = self._on_device(torch.rand(batch, generator=self.generator) * level_max)  # (B,)
        memory = self.model.initial_memory(batch)
        for k in range(n_context):
            memory = self.model.update_memory(memory, self._noised(z_context[:, k], level))

        loss = torch.zeros((), device=self.device)
        for k in range(n_gap):
            z_real = z_target[:, k]
            # The denoiser's clean sample: the segment's latent, or its change to the guess's.
            z0 = (z_real - z_guess[:, k]) * c.residual_scale if c.residual else z_real
            t = self._on_device(sample_times(batch, self.generator))
            noise = self._on_device(torch.randn(z0.shape, generator=self.generator))
            mask = (
                known[:, k]
                .reshape(batch, 1, c.latent_frames, 1, 1)
                .expand(batch, 1, c.latent_frames, c.latent_height, c.latent_width)
            )
            guide = torch.cat([z_guess[:, k], mask], dim=1)
            z_t = add_noise(z0, t, noise)
            inputs = DenoiserInputs(z_t, t, memory, z_anchor, offsets[:, k], guide, level)
            v = self.model.denoise(inputs)
            loss = loss + F.mse_loss(v, v_target(z0, t, noise))
            self._track_one_step_miss(z0, z_t, t, v)
            if k + 1 < n_gap:
                memory = self.model.update_memory(memory, self._noised(z_real, level))
                if (n_context + k + 1) % o.bptt == 0:
                    memory = memory.detach()
        return loss / n_gap, batch * n_gap

    @torch.no_grad()
    def _track_one_step_miss(
        self, z0: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor
    ) -> None:
        near_one = (t >= SAMPLER_REGION).to(z0.dtype).reshape(-1, *([1] * (z0.dim() - 1)))
        miss = (predicted_z0(z_t, t, v) - z0) * near_one
        self.one_step_miss += torch.stack([miss.square().sum(), (z0 * near_one).square().sum()])

    def _noised(self, z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        if not bool((level > 0).any()):
            return z
        noise = self._on_device(torch.randn(z.shape, generator=self.generator))
        return add_noise(z, level, noise)

    def _tensor(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1] on the training device."""
        return self._on_device(_to_tensor(frames))

    def _on_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device)

    # Loop --------------------------------------------------------------------------------------
    def train(self) -> None:
        o = self.options
        progress = tqdm(total=o.steps, initial=self.step, desc=f"stage {o.stage}", unit="step")
        batches = -(-o.steps // o.echo)  # footage batches: one per `echo` steps

        def plan(batch: int) -> tuple[int, int]:
            return self.plan(batch * o.echo)  # the curriculum counts steps

        with FootageStream(self.footage_maker(), plan, batches, o.workers) as stream:
            self._train_loop(stream, progress)
        progress.close()

    def _train_loop(self, stream: FootageStream, progress: tqdm) -> None:
        o = self.options
        deadline = None if o.minutes is None else time.monotonic() + 60 * o.minutes
        window_start, window_samples, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0
        batch_index, footage, encoded = -1, None, None
        while self.step < o.steps:
            lr = o.lr * min(1.0, (self.step + 1) / o.warmup)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if self.step // o.echo != batch_index:  # a new batch; a resumed run makes it again
                batch_index = self.step // o.echo
                footage = stream.footage(batch_index)
                encoded = self.encode_footage(footage) if o.stage == 2 else None
            if o.stage == 1:
                loss, samples = self.stage1_step(footage)
            else:
                assert encoded is not None
                loss, samples = self.stage2_loss(encoded)
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss is {loss.item()} at step {self.step}")
            self.optimise(loss)
            self.step += 1
            window_samples += samples
            window_loss += loss.item()
            window_steps += 1
            progress.update(1)
            if self.step % o.log_every == 0 or self.step == o.steps:
                elapsed = time.perf_counter() - window_start
                rate = window_samples / max(elapsed, 1e-9)
                mean_loss = window_loss / window_steps
                progress.set_postfix(loss=f"{mean_loss:.4f}", samples_s=f"{rate:.2f}")
                error, power = self.one_step_miss.tolist()
                log.info(
                    "stage %d step %d loss %.5f samples/s %.3f lr %.2e unroll %s one-step miss %s",
                    o.stage, self.step, mean_loss, rate, lr,
                    unroll_for_step(self.step, o.steps, o.curriculum) if o.stage == 2 else "-",
                    f"{error / power:.3f}" if power > 0 else "-",
                )  # fmt: skip
                self.one_step_miss.zero_()
                window_start, window_samples, window_loss, window_steps = (
                    time.perf_counter(),
                    0,
                    0.0,
                    0,
                )
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if self.step % o.checkpoint_every == 0 or self.step == o.steps or out_of_time:
                self.save()
            if out_of_time:
                log.info("stage %d: %s minutes are up at step %d", o.stage, o.minutes, self.step)
                break

    def optimise(self, loss: torch.Tensor) -> None:
        """One optimiser step on `loss` (gradients clipped), then the EMA weights follow."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._trainable(), 1.0)
        self.optimizer.step()
        self._update_ema()

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.options.ema_decay, (1 + self.step) / (10 + self.step))
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                self.ema[name].mul_(decay).add_(value, alpha=1 - decay)
            else:
                self.ema[name].copy_(value)

    # Checkpoints ------------------------------------------------------------------------------
    def state_path(self) -> Path:
        return self.out / f"stage{self.options.stage}.pt"

    def save(self) -> None:
        state = {
            "config": self.config.to_json(),
            "options": {k: str(v) for k, v in asdict(self.options).items()},
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema,
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": self.generator.get_state(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.state_path(), buffer.getvalue())
        export_model = Malt(self.config)
        export_model.load_state_dict(self.ema)
        save_model(export_model, self.out / "export")
        log.info(
            "checkpoint: step %d -> %s and %s", self.step, self.state_path(), self.out / "export"
        )

    def resume(self) -> None:
        saved = _load_state(self.state_path())
        self.config = MaltConfig.from_json(saved["config"], source=str(self.state_path()))
        self.model = Malt(self.config)
        self.model.load_state_dict(saved["model"])
        self._setup_optimizer()
        self.optimizer.load_state_dict(saved["optimizer"])
        self.ema = {k: v.to(self.device) for k, v in saved["ema"].items()}
        self.step = int(saved["step"])
        self.generator.set_state(saved["torch_rng"])
        log.info("resumed %s at step %d", self.state_path(), self.step)


def trained_steps(out: Path, stage: int) -> int:
    """Steps a training folder's stage has reached (its checkpoint's step): with --minutes, fewer
    than asked for."""
    return int(_load_state(out / f"stage{stage}.pt")["step"])


def _load_state(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: training checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise UserError(f"{path}: corrupt training checkpoint ({type(exc).__name__})") from None


def _stage1_autoencoder(path: Path) -> tuple[MaltConfig, dict[str, torch.Tensor]]:
    """(configuration, weights) of a finished stage 1: a training checkpoint (its EMA) or a
    checkpoint folder, whose weights may hold the autoencoder alone."""
    if not path.is_dir():
        saved = _load_state(path)
        return MaltConfig.from_json(saved["config"], source=str(path)), saved["ema"]
    return read_config(path), read_weights(path)


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return x.permute(0, 4, 1, 2, 3).contiguous()


def _chunks(array: np.ndarray, size: int):
    for i in range(0, len(array), size):
        yield array[i : i + size]


def setup_logging(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def build_trainer(
    options: TrainOptions,
    config: MaltConfig,
    synth_seeds: tuple[int, int] | None,
    shots: list[RealShot],
    resume: bool,
) -> Trainer:
    """A Trainer ready for its first step: resumed, from --init, or stage 2 on a stage 1."""
    config = without_memory_noise(config, options.memory_noise)
    # A partial, not a closure: worker processes receive it pickled.
    sampler_factory = functools.partial(
        FootageSampler,
        synth_seeds=synth_seeds,
        shots=shots,
        photos=load_photos() if options.photos else None,
    )
    trainer = Trainer(options, config, sampler_factory)
    if resume and trainer.state_path().is_file():
        trainer.resume()
    elif options.init is not None:
        trainer.start_from_checkpoint(options.init)
    elif options.stage == 2:
        trainer.start_stage2_from(options.autoencoder or options.out / "stage1.pt")
    return trainer


def run_training(
    options: TrainOptions,
    config: MaltConfig,
    synth_seeds: tuple[int, int] | None,
    shots: list[RealShot],
    resume: bool,
) -> Path:
    """Train one stage into options.out; returns the folder of the exported (EMA) checkpoint."""
    setup_logging(options.out)
    trainer = build_trainer(options, config, synth_seeds, shots, resume)
    log.info(
        "training stage %d to step %d; config %s; threads %d; pid %d",
        options.stage, options.steps, json.dumps(json.loads(trainer.config.to_json())),
        torch.get_num_threads(), os.getpid(),
    )  # fmt: skip
    trainer.train()
    return options.out / "export"
