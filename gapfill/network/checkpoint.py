"""Saving and loading MALT checkpoints: a folder holding config.json and model.safetensors.

Loading refuses, with a one-line UserError naming the file, a folder without those files, a
configuration of another format version, and weights that are truncated, corrupt or do not fit
the configuration.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from gapfill.errors import UserError
from gapfill.media.encode import atomic_write_bytes
from gapfill.network.config import CONFIG_NAME, WEIGHTS_NAME, MaltConfig, read_config
from gapfill.network.malt import Malt


def save_model(
    model: Malt, checkpoint_dir: Path, state: dict[str, torch.Tensor] | None = None
) -> None:
    """Write the model (or the given state dict, e.g. its EMA weights) and its configuration."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in (state or model.state_dict()).items()}
    weights = save(tensors, metadata={"format": "gapfill-malt"})
    atomic_write_bytes(checkpoint_dir / WEIGHTS_NAME, weights)
    atomic_write_bytes(checkpoint_dir / CONFIG_NAME, model.config.to_json().encode("utf-8"))


def load_model(checkpoint_dir: Path) -> Malt:
    """The MALT model stored in `checkpoint_dir`, in eval mode."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise UserError(f"{checkpoint_dir}: checkpoint folder not found")
    config = read_config(checkpoint_dir)
    state = read_weights(checkpoint_dir)
    weights = checkpoint_dir / WEIGHTS_NAME
    model = Malt(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"{weights}: weights do not match the configuration "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors)"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise UserError(
                f"{weights}: tensor {name} has shape {tuple(tensor.shape)}, "
                f"configuration needs {tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise UserError(f"{weights}: tensor {name} holds NaN or infinite values")
    model.load_state_dict(state)
    return model.eval()


def read_weights(checkpoint_dir: Path) -> dict[str, torch.Tensor]:
    """The tensors stored in `checkpoint_dir`, as saved (not checked against a configuration),
    refusing a missing or unreadable file."""
    weights = Path(checkpoint_dir) / WEIGHTS_NAME
    if not weights.is_file():
        raise UserError(f"{weights}: checkpoint weights not found")
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{weights}: corrupt weights ({exc})") from None


def checkpoint_sha256(checkpoint_dir: Path) -> str:
    """SHA-256 over the configuration and the weights: the model's identity for provenance."""
    digest = hashlib.sha256()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        with open(Path(checkpoint_dir) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


__all__ = ["MaltConfig", "checkpoint_sha256", "load_model", "read_weights", "save_model"]
