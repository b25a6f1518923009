"""Small building blocks shared by the denoiser and the memory update (after DiT's models.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    # x: (B, N, D); shift, scale: (B, D)
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def sinusoidal_embedding(
    values: torch.Tensor, dim: int, max_period: float = 10000.0
) -> torch.Tensor:
    """(B,) real values -> (B, dim) sin/cos features at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half
    )
    args = values.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ScalarEmbedder(nn.Module):
    """Embeds a scalar per sample (diffusion time, noise level, distance) into a d_model vector."""

    def __init__(self, d_model: int, scale: float, frequency_dim: int = 128):
        super().__init__()
        # `scale` maps the scalar's natural range onto the sinusoids' useful range (about 0..1000).
        self.scale = scale
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dim, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        # values: (B,) -> (B, D)
        return self.mlp(sinusoidal_embedding(values * self.scale, self.frequency_dim))


class Attention(nn.Module):
    """Multi-head attention; queries from `x`, keys and values from `context` (self if None)."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(d_model, d_model)
        self.to_kv = nn.Linear(d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, N, D); context: (B, M, D) -> (B, N, D)
        context = x if context is None else context
        b, n, d = x.shape
        m = context.shape[1]
        head_dim = d // self.heads
        q = self.to_q(x).reshape(b, n, self.heads, head_dim).transpose(1, 2)  # (B, H, N, d/H)
        k, v = self.to_kv(context).reshape(b, m, 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, d/H)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, d_model: int, mlp_ratio: float):
        super().__init__()
        hidden = int(d_model * mlp_ratio)
        self.net = nn.Sequential(
            nn.Linear(d_model, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchEmbed(nn.Module):
    """Latent (B, C, F, h, w) -> tokens (B, F, h/p * w/p, D) with fixed 2D sin/cos positions."""

    def __init__(self, in_channels: int, d_model: int, patch: int, grid: tuple[int, int]):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(in_channels * patch * patch, d_model)
        pos = sincos_2d(d_model, grid)  # (N, D)
        self.register_buffer("pos", torch.from_numpy(pos).float().unsqueeze(0), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = z.shape
        p = self.patch
        z = z.reshape(b, c, f, h // p, p, w // p, p)
        z = z.permute(0, 2, 3, 5, 1, 4, 6).reshape(b, f, (h // p) * (w // p), c * p * p)
        return self.proj(z) + self.pos.unsqueeze(0)  # (B, F, N, D)


def unpatchify(
    tokens: torch.Tensor, channels: int, patch: int, grid: tuple[int, int]
) -> torch.Tensor:
    """Tokens (B, F, N, p*p*C) -> latent (B, C, F, h, w); inverse of PatchEmbed's reshape."""
    b, f, _, _ = tokens.shape
    gh, gw = grid
    x = tokens.reshape(b, f, gh, gw, channels, patch, patch)
    x = x.permute(0, 4, 1, 2, 5, 3, 6)  # (B, C, F, gh, p, gw, p)
    return x.reshape(b, channels, f, gh * patch, gw * patch)


def sincos_2d(dim: int, grid: tuple[int, int]) -> np.ndarray:
    """Fixed 2D sin/cos position table (N = gh*gw, dim), as in MAE and DiT."""
    gh, gw = grid
    ys, xs = np.meshgrid(
        np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64), indexing="ij"
    )
    return np.concatenate([_sincos_1d(dim // 2, ys), _sincos_1d(dim // 2, xs)], axis=1)


def _sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", positions.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)
