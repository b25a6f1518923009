"""MALT's memory: a fixed-size tensor per denoiser layer, updated by recurrent attention.

After a segment is finished (real context, or a generated segment), one pass of the update turns
(memory, the segment's clean latent) into the next memory: each layer's memory tokens attend to
[their own memory; the segment's tokens]. The memory has the same shape after one segment or
ten thousand, which is what keeps time and memory per segment constant over any span. A final
LayerNorm keeps its scale fixed however many updates are chained.
"""

from __future__ import annotations

import torch
from torch import nn

from gapfill.network.config import MaltConfig
from gapfill.network.layers import Attention, Mlp, PatchEmbed


class MemoryWriteBlock(nn.Module):
    """One layer's update: memory tokens read [memory; segment tokens], then an MLP."""

    def __init__(self, d_model: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm_memory = nn.LayerNorm(d_model)
        self.norm_segment = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = Mlp(d_model, mlp_ratio)
        self.norm_out = nn.LayerNorm(d_model)

    def forward(self, memory: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
        # memory: (B, M, D); segment: (B, S, D) -> next memory (B, M, D)
        m = self.norm_memory(memory)
        context = torch.cat([m, self.norm_segment(segment)], dim=1)  # (B, M + S, D)
        memory = memory + self.attn(m, context)
        memory = memory + self.mlp(self.norm_mlp(memory))
        return self.norm_out(memory)


class MemoryUpdate(nn.Module):
    def __init__(self, config: MaltConfig):
        super().__init__()
        d, p = config.d_model, config.patch_size
        grid = (config.latent_height // p, config.latent_width // p)
        self.embed = PatchEmbed(config.latent_channels, d, p, grid)
        self.frame_pos = nn.Parameter(torch.randn(1, config.latent_frames, 1, d) * 0.02)
        # The learned starting memory: also how "no footage before the gap" is expressed.
        self.initial = nn.Parameter(torch.randn(config.depth, config.memory_tokens, d) * 0.02)
        self.layers = nn.ModuleList(
            MemoryWriteBlock(d, config.heads, config.mlp_ratio) for _ in range(config.depth)
        )

    def initial_memory(self, batch: int) -> torch.Tensor:
        # (B, L, M, D)
        return self.initial.unsqueeze(0).expand(batch, -1, -1, -1)

    def forward(self, memory: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        # memory: (B, L, M, D); z: (B, C, F, h, w) clean segment latent -> (B, L, M, D)
        tokens = self.embed(z) + self.frame_pos  # (B, F, N, D)
        b, f, n, d = tokens.shape
        tokens = tokens.reshape(b, f * n, d)
        updated = [layer(memory[:, i], tokens) for i, layer in enumerate(self.layers)]
        return torch.stack(updated, dim=1)
