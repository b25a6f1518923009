"""The diffusion process MALT is trained on: a cosine schedule in continuous time, v-prediction.

z_t = alpha(t) z_0 + sigma(t) eps with alpha = cos(pi t / 2), sigma = sin(pi t / 2), t in [0, 1].
The model predicts v = alpha eps - sigma z_0, from which z_0 = alpha z_t - sigma v and
eps = sigma z_t + alpha v (Salimans & Ho, progressive distillation). The sampler in sampler.py
uses the same formulas on numpy arrays.
"""

from __future__ import annotations

import math

import torch

from gapfill.network.sampler import T_MAX, T_MIN


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cos(t * (math.pi / 2)), torch.sin(t * (math.pi / 2))


def _expand(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # (B,) -> (B, 1, 1, ...) to broadcast against `like`
    return x.reshape(-1, *([1] * (like.dim() - 1)))


def add_noise(z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    alpha, sigma = alpha_sigma(t)
    return _expand(alpha, z0) * z0 + _expand(sigma, z0) * noise


def v_target(z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    alpha, sigma = alpha_sigma(t)
    return _expand(alpha, z0) * noise - _expand(sigma, z0) * z0


def predicted_z0(z_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    alpha, sigma = alpha_sigma(t)
    return _expand(alpha, z_t) * z_t - _expand(sigma, z_t) * v


def sample_times(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return T_MIN + (T_MAX - T_MIN) * torch.rand(batch, generator=generator)
