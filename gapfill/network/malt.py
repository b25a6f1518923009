"""MALT: the autoencoder, the denoiser and the memory update, behind four separable calls.

    encode(frames) -> z            frames (B, 3, T, H, W) in [-1, 1]; z (B, C, T/4, H/8, W/8)
    denoise(inputs) -> v          inputs: DenoiserInputs (denoiser_inputs.py), v like z_t
    update_memory(memory, z) -> memory_next      memory (B, L, M, D), same shape in and out
    decode(z) -> frames

These four are the graphs the exporters write (`graphs()` returns them as modules with explicit
tensor inputs and outputs). Nothing is carried between calls inside the modules: the memory is an
input and an output. The segment loop that fills a gap lives in generate.py, on numpy arrays.
"""

from __future__ import annotations

import torch
from torch import nn

from gapfill.network.autoencoder import Autoencoder
from gapfill.network.config import MaltConfig
from gapfill.network.denoiser import Denoiser
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.memory import MemoryUpdate


class Malt(nn.Module):
    def __init__(self, config: MaltConfig):
        super().__init__()
        self.config = config
        self.autoencoder = Autoencoder(config)
        self.denoiser = Denoiser(config)
        self.memory = MemoryUpdate(config)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        # (B, 3, T, H, W) in [-1, 1] -> (B, C, T/4, H/8, W/8), scaled to about unit variance
        return self.autoencoder.encode(frames) * self.config.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        # (B, C, T/4, h, w) -> (B, 3, T, H, W) in about [-1, 1]
        return self.autoencoder.decode(z / self.config.latent_scale)

    def denoise(self, inputs: DenoiserInputs[torch.Tensor]) -> torch.Tensor:
        return self.denoiser(inputs)

    def update_memory(self, memory: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.memory(memory, z)

    def initial_memory(self, batch: int) -> torch.Tensor:
        return self.memory.initial_memory(batch)

    def graphs(self) -> dict[str, nn.Module]:
        """The four exportable graphs, sharing this model's weights."""
        return {
            "encode": EncodeGraph(self),
            "denoise": DenoiseGraph(self),
            "update_memory": UpdateMemoryGraph(self),
            "decode": DecodeGraph(self),
        }


class EncodeGraph(nn.Module):
    def __init__(self, malt: Malt):
        super().__init__()
        self.malt = malt

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.malt.encode(frames)


class DenoiseGraph(nn.Module):
    def __init__(self, malt: Malt):
        super().__init__()
        self.malt = malt

    def forward(
        self,
        z_t: torch.Tensor,
        t: torch.Tensor,
        memory: torch.Tensor,
        anchor: torch.Tensor,
        anchor_offset: torch.Tensor,
        guide: torch.Tensor,
        memory_noise: torch.Tensor,
    ) -> torch.Tensor:
        # The one place the inputs are spelt out: an exported graph takes named positional
        # tensors (gapfill.runtime.manifest.GRAPH_INPUTS), in DenoiserInputs' order.
        return self.malt.denoise(
            DenoiserInputs(z_t, t, memory, anchor, anchor_offset, guide, memory_noise)
        )


class UpdateMemoryGraph(nn.Module):
    def __init__(self, malt: Malt):
        super().__init__()
        self.malt = malt

    def forward(self, memory: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.malt.update_memory(memory, z)


class DecodeGraph(nn.Module):
    def __init__(self, malt: Malt):
        super().__init__()
        self.malt = malt

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.malt.decode(z)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
