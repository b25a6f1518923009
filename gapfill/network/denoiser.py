"""The latent diffusion transformer that denoises one segment, reading memory and anchor.

A segment's latent (B, C, F, h, w) becomes F*N tokens (N = 2x2 patches per latent frame). Blocks
alternate spatial attention (within one latent frame) and spatio-temporal attention (across the
whole segment). Every block then cross-attends to its own layer's memory tokens (everything
before this segment, compressed) and to the anchor tokens (the real footage after the gap), and
is conditioned by adaLN-Zero on the diffusion time and the memory's noise level. The output is
the v-prediction for the segment.
"""

from __future__ import annotations

import torch
from torch import nn

from gapfill.network.config import MaltConfig
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.layers import (
    Attention,
    Mlp,
    PatchEmbed,
    ScalarEmbedder,
    modulate,
    unpatchify,
)


class DenoiserBlock(nn.Module):
    """Self-attention (spatial or spatio-temporal), cross-attention to [memory; anchor], MLP."""

    def __init__(self, d_model: int, heads: int, mlp_ratio: float, spatial: bool):
        super().__init__()
        self.spatial = spatial
        self.norm_self = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.self_attn = Attention(d_model, heads)
        self.norm_cross = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.norm_context = nn.LayerNorm(d_model)
        self.cross_attn = Attention(d_model, heads)
        self.norm_mlp = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d_model, mlp_ratio)
        # adaLN-Zero: shift, scale and gate for each of the three sub-layers, zero at start.
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 9 * d_model))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # x: (B, F, N, D); cond: (B, D); context: (B, M + F*N, D) memory and anchor tokens
        b, f, n, d = x.shape
        mods = self.modulation(cond).chunk(9, dim=1)
        shift_sa, scale_sa, gate_sa, shift_ca, scale_ca, gate_ca, shift_ff, scale_ff, gate_ff = mods

        h = modulate(self.norm_self(x.reshape(b, f * n, d)), shift_sa, scale_sa)  # (B, F*N, D)
        if self.spatial:
            h = self.self_attn(h.reshape(b * f, n, d)).reshape(b, f * n, d)
        else:
            h = self.self_attn(h)
        x = x.reshape(b, f * n, d) + gate_sa.unsqueeze(1) * h

        h = modulate(self.norm_cross(x), shift_ca, scale_ca)
        x = x + gate_ca.unsqueeze(1) * self.cross_attn(h, self.norm_context(context))

        h = modulate(self.norm_mlp(x), shift_ff, scale_ff)
        x = x + gate_ff.unsqueeze(1) * self.mlp(h)
        return x.reshape(b, f, n, d)


class FinalLayer(nn.Module):
    def __init__(self, d_model: int, out_features: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 2 * d_model))
        self.linear = nn.Linear(d_model, out_features)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: (B, F, N, D) -> (B, F, N, out_features)
        b, f, n, d = x.shape
        shift, scale = self.modulation(cond).chunk(2, dim=1)
        return self.linear(modulate(self.norm(x.reshape(b, f * n, d)), shift, scale)).reshape(
            b, f, n, -1
        )


class Denoiser(nn.Module):
    def __init__(self, config: MaltConfig):
        super().__init__()
        self.config = config
        c, f = config.latent_channels, config.latent_frames
        d, p = config.d_model, config.patch_size
        self.grid = (config.latent_height // p, config.latent_width // p)
        n = self.grid[0] * self.grid[1]
        # Input: the noisy latent beside the guide (first-guess latent + known-frame mask).
        self.embed = PatchEmbed(2 * c + 1, d, p, self.grid)
        self.anchor_embed = PatchEmbed(c, d, p, self.grid)
        self.frame_pos = nn.Parameter(torch.zeros(1, f, 1, d))
        self.anchor_frame_pos = nn.Parameter(torch.zeros(1, f, 1, d))
        # The learned anchor used when no footage follows the gap (the recording ended).
        self.null_anchor = nn.Parameter(torch.zeros(1, f * n, d))
        self.time_embed = ScalarEmbedder(d, scale=1000.0)
        self.memory_noise_embed = ScalarEmbedder(d, scale=1000.0)
        # Distance from this segment's start to the anchor's start, in segments (0 .. ~64).
        self.offset_embed = ScalarEmbedder(d, scale=10.0)
        self.blocks = nn.ModuleList(
            DenoiserBlock(d, config.heads, config.mlp_ratio, spatial=(i % 2 == 0))
            for i in range(config.depth)
        )
        self.final = FinalLayer(d, p * p * c)
        self._init_weights()

    def _init_weights(self) -> None:
        def basic(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(basic)
        nn.init.normal_(self.null_anchor, std=0.02)
        nn.init.normal_(self.frame_pos, std=0.02)
        nn.init.normal_(self.anchor_frame_pos, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.modulation[-1].weight)
            nn.init.zeros_(block.modulation[-1].bias)
        nn.init.zeros_(self.final.modulation[-1].weight)
        nn.init.zeros_(self.final.modulation[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    def forward(self, inputs: DenoiserInputs[torch.Tensor]) -> torch.Tensor:
        """Predict v for the segment (B, C, F, h, w) from its inputs (see DenoiserInputs)."""
        z_t, anchor_offset = inputs.z_t, inputs.anchor_offset
        b = z_t.shape[0]
        x = self.embed(torch.cat([z_t, inputs.guide], dim=1)) + self.frame_pos  # (B, F, N, D)
        f, n, d = x.shape[1], x.shape[2], x.shape[3]

        has_anchor = (anchor_offset >= 0).to(x.dtype).reshape(b, 1, 1)
        anchor_tokens = self.anchor_embed(inputs.anchor) + self.anchor_frame_pos  # (B, F, N, D)
        anchor_tokens = anchor_tokens.reshape(b, f * n, d)
        anchor_tokens = anchor_tokens + self.offset_embed(anchor_offset.clamp(min=0)).unsqueeze(1)
        anchor_tokens = has_anchor * anchor_tokens + (1 - has_anchor) * self.null_anchor

        cond = self.time_embed(inputs.t) + self.memory_noise_embed(inputs.memory_noise)  # (B, D)
        for layer, block in enumerate(self.blocks):
            context = torch.cat([inputs.memory[:, layer], anchor_tokens], dim=1)  # (B, M + F*N, D)
            x = block(x, cond, context)
        out = self.final(x, cond)  # (B, F, N, p*p*C)
        return unpatchify(out, self.config.latent_channels, self.config.patch_size, self.grid)
