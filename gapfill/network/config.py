"""MALT's configuration: every size the model is built from, saved as JSON beside the weights.

This module does not import torch, so the catalog, the CLI and the ONNX runtime can read a
checkpoint's configuration without it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gapfill.errors import UserError

# Bumped whenever a change to the model makes older weights meaningless.
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class MaltConfig:
    # Working size of the frames the model sees; the fill resizes to it and composes back.
    height: int = 96
    width: int = 128
    # A segment is the unit MALT generates and remembers: 16 frames -> 4 latent frames.
    segment_frames: int = 16
    time_down: int = 4
    # 8: a small latent, cheap to diffuse; 4: four times the latent (a patch_size of 4 keeps the
    # denoiser's tokens), for an autoencoder that keeps more of real footage's detail.
    space_down: int = 8
    latent_channels: int = 16
    # Autoencoder widths, from full resolution to the latent.
    ae_channels: tuple[int, ...] = (24, 48, 96)
    # Denoiser transformer.
    patch_size: int = 2
    d_model: int = 128
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    memory_tokens: int = 32
    # Diffusion and generation.
    sample_steps: int = 8
    # What the denoiser diffuses. True: the change to the first guess's latent, z - z_guess, so
    # pure noise at t = 1 denoises to the model's estimate of what the guess gets wrong, and a
    # one-step sample is the mean of that estimate. False (checkpoints before this field): the
    # latent itself.
    residual: bool = True
    # Diffusion time sampling starts from: 1 = pure noise; below 1 = the first guess (residual:
    # "no change"), noised to that time.
    sample_start: float = 1.0
    # How far into a hole the model's change is trusted: the fill keeps w = 1 - exp(-d / tau) of
    # it at a frame d frames from the nearest real one (0: all of it everywhere). Near real
    # footage the motion-compensated guess is hard to improve on and a weak model's change is
    # mostly error; far from it the guess knows little. Calibrated per checkpoint on training
    # footage (benchmarks/fill_quality.py --tune-sampling), since it measures the model.
    change_tau: float = 0.0
    memory_noise_max: float = 0.5  # training: level of the noise on the memory input ~ U(0, max)
    memory_noise_generate: float = 0.1  # generation: the small fixed level
    # Multiplies the autoencoder's latent so that it has unit variance (measured after stage 1).
    latent_scale: float = 1.0
    # Multiplies the change to the first guess's latent (residual models) so that it too has unit
    # variance (measured at the start of stage 2). Unscaled, the change is a fraction of the
    # latent's spread (about 0.4 of its std on the 4x autoencoder's training footage), and the
    # loss at the high diffusion times, where the one-step sampler works, is that fraction
    # squared of what the low times weigh: the model then learns the times the sampler never uses.
    residual_scale: float = 1.0
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        step = self.space_down * self.patch_size
        if self.height % step or self.width % step:
            raise ValueError(
                f"working size {self.height}x{self.width} must be a multiple of {step}"
            )
        if self.segment_frames % self.time_down:
            raise ValueError("segment_frames must be a multiple of time_down")
        if self.d_model % self.heads:
            raise ValueError("d_model must be a multiple of heads")
        if self.space_down not in (4, 8):
            raise ValueError("space_down must be 4 or 8")
        if len(self.ae_channels) != 3:
            raise ValueError("ae_channels must list three widths")
        if not self.change_tau >= 0:
            raise ValueError("change_tau must be 0 or more")

    # Derived sizes ---------------------------------------------------------------------------
    @property
    def latent_frames(self) -> int:
        return self.segment_frames // self.time_down

    @property
    def latent_height(self) -> int:
        return self.height // self.space_down

    @property
    def latent_width(self) -> int:
        return self.width // self.space_down

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_height // self.patch_size) * (self.latent_width // self.patch_size)

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """(C, F, h, w) of one segment's latent."""
        return (self.latent_channels, self.latent_frames, self.latent_height, self.latent_width)

    @property
    def memory_shape(self) -> tuple[int, int, int]:
        """(layers, tokens, d_model) of the memory carried between segments."""
        return (self.depth, self.memory_tokens, self.d_model)

    # JSON ------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> MaltConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: not valid JSON ({exc.msg})") from None
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise UserError(
                f"{source}: checkpoint format version {version!r}, "
                f"this gapfill reads {FORMAT_VERSION}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(f"{source}: unknown configuration keys {unknown}")
        raw.setdefault("residual", False)  # written before the field existed: the latent itself
        if "ae_channels" in raw:
            raw["ae_channels"] = tuple(raw["ae_channels"])
        try:
            return cls(**raw)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}: invalid configuration ({exc})") from None

    @classmethod
    def tiny(cls) -> MaltConfig:
        """The smallest sensible model: tests train it for a few steps in seconds."""
        return cls(
            height=32,
            width=48,
            ae_channels=(8, 16, 16),
            latent_channels=4,
            d_model=32,
            depth=2,
            heads=2,
            memory_tokens=4,
            sample_steps=4,
        )


def read_config(checkpoint_dir: Path) -> MaltConfig:
    """The configuration of the checkpoint in `checkpoint_dir`, refusing a missing or bad file."""
    return read_config_file(Path(checkpoint_dir) / CONFIG_NAME)


def read_config_file(path: Path) -> MaltConfig:
    """A configuration file (a checkpoint's config.json, or one written for training)."""
    if not path.is_file():
        raise UserError(f"{path}: checkpoint configuration not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    return MaltConfig.from_json(text, source=str(path))


def default_checkpoint_dir() -> Path:
    """The checkpoint that ships inside the package."""
    return Path(__file__).resolve().parent / "default"
