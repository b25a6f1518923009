"""Causal 3D convolutional autoencoder: 4x in time, 8x (or 4x) in space, a continuous (KL) latent.

Causal means a latent frame depends only on the frames up to its own end: the time axis is padded
on the left only. Each segment is encoded on its own, so the ONNX graphs need no carried state.
Channel widths stay small at full resolution because on a CPU the first and last layers dominate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gapfill.network.config import MaltConfig


class CausalConv3d(nn.Module):
    """Conv3d whose time axis sees only the past: left padding by repeating the first frame."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int],
        stride: tuple[int, int, int] = (1, 1, 1),
    ):
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - 1
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(0, kh // 2, kw // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, T, H, W)
        if self.time_pad:
            first = x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1)
            x = torch.cat([first, x], dim=2)
        return self.conv(x)


class ResBlock3d(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, channels)
        self.conv1 = CausalConv3d(channels, channels, (3, 3, 3))
        self.norm2 = nn.GroupNorm(8, channels)
        self.conv2 = CausalConv3d(channels, channels, (3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def space_to_depth(x: torch.Tensor, factor: int) -> torch.Tensor:
    # (B, C, T, H, W) -> (B, C*f*f, T, H/f, W/f)
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 4, 6, 2, 3, 5).reshape(
        b, c * factor * factor, t, h // factor, w // factor
    )


def depth_to_space(x: torch.Tensor, factor: int) -> torch.Tensor:
    # (B, C*f*f, T, H, W) -> (B, C, T, H*f, W*f)
    b, cff, t, h, w = x.shape
    c = cff // (factor * factor)
    x = x.reshape(b, c, factor, factor, t, h, w)
    return x.permute(0, 1, 4, 5, 2, 6, 3).reshape(b, c, t, h * factor, w * factor)


def depth_to_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    # (B, C*f, T, H, W) -> (B, C, T*f, H, W): latent frame i becomes frames f*i .. f*i+f-1
    b, cf, t, h, w = x.shape
    c = cf // factor
    x = x.reshape(b, c, factor, t, h, w).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, c, t * factor, h, w)


class Encoder(nn.Module):
    """Frames (B, 3, T, H, W) in [-1, 1] -> latent mean and log-variance (B, Cz, T/4, H/s, W/s),
    s = config.space_down (8, or 4: the last spatial halving is left out)."""

    def __init__(self, config: MaltConfig):
        super().__init__()
        c0, c1, c2 = config.ae_channels
        last = config.space_down // 4  # the last layer's spatial stride: 2 (s = 8) or 1 (s = 4)
        self.stem = nn.Conv3d(12, c0, (1, 3, 3), padding=(0, 1, 1))  # at H/2 after space_to_depth
        self.down_space = nn.Conv3d(c0, c1, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))  # H/4
        self.down_space_time = CausalConv3d(c1, c2, (3, 3, 3), stride=(2, last, last))  # T/2, H/s
        self.down_time = CausalConv3d(c2, c2, (3, 3, 3), stride=(2, 1, 1))  # T/4
        self.mid = ResBlock3d(c2)
        self.norm = nn.GroupNorm(8, c2)
        self.out = nn.Conv3d(c2, 2 * config.latent_channels, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = space_to_depth(frames, 2)  # (B, 12, T, H/2, W/2)
        x = F.silu(self.stem(x))
        x = F.silu(self.down_space(x))  # (B, c1, T, H/4, W/4)
        x = F.silu(self.down_space_time(x))  # (B, c2, T/2, H/s, W/s)
        x = F.silu(self.down_time(x))  # (B, c2, T/4, H/s, W/s)
        x = self.out(F.silu(self.norm(self.mid(x))))  # (B, 2*Cz, T/4, H/s, W/s)
        mean, logvar = x.chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)


class Decoder(nn.Module):
    """Latent (B, Cz, T/4, H/s, W/s) -> frames (B, 3, T, H, W) in about [-1, 1]."""

    def __init__(self, config: MaltConfig):
        super().__init__()
        c0, c1, c2 = config.ae_channels
        self.first_up = config.space_down // 4  # 2 (s = 8) or 1 (s = 4: already at H/4)
        self.inp = nn.Conv3d(config.latent_channels, c2, 1)
        self.mid = ResBlock3d(c2)
        self.up_time1 = CausalConv3d(c2, 2 * c2, (3, 3, 3))  # -> T/2 after depth_to_time
        self.up_time2 = CausalConv3d(c2, 2 * c1, (3, 3, 3))  # -> T
        up = self.first_up**2
        self.up_space1 = nn.Conv3d(c1, up * c1, (1, 3, 3), padding=(0, 1, 1))  # -> H/4
        self.up_space2 = nn.Conv3d(c1, 4 * c0, (1, 3, 3), padding=(0, 1, 1))  # -> H/2
        self.out = nn.Conv3d(c0, 12, (1, 3, 3), padding=(0, 1, 1))  # -> H after depth_to_space

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid(self.inp(z))  # (B, c2, T/4, h, w)
        x = F.silu(depth_to_time(self.up_time1(x), 2))  # (B, c2, T/2, h, w)
        x = F.silu(depth_to_time(self.up_time2(x), 2))  # (B, c1, T, h, w)
        x = F.silu(depth_to_space(self.up_space1(x), self.first_up))  # (B, c1, T, H/4, W/4)
        x = F.silu(depth_to_space(self.up_space2(x), 2))  # (B, c0, T, H/2, W/2)
        return depth_to_space(self.out(x), 2)  # (B, 3, T, H, W)


class Autoencoder(nn.Module):
    def __init__(self, config: MaltConfig):
        super().__init__()
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Deterministic latent (the posterior mean); frames (B, 3, T, H, W) in [-1, 1]."""
        mean, _ = self.encoder(frames)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def loss(
        self,
        frames: torch.Tensor,
        generator: torch.Generator | None = None,
        kl_weight: float = 1e-4,
    ) -> tuple[torch.Tensor, dict]:
        """Stage 1 loss: L1 + L1 of image gradients (keeps edges sharp) + a small KL term."""
        mean, logvar = self.encoder(frames)
        # Training keeps its random streams on the CPU, whatever the device: draw there, then move.
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + noise * torch.exp(0.5 * logvar)
        return stage1_loss(self.decoder(z), frames, mean, logvar, kl_weight)


def stage1_loss(
    recon: torch.Tensor,
    frames: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    kl_weight: float = 1e-4,
) -> tuple[torch.Tensor, dict]:
    """L1 + L1 of image gradients (keeps edges sharp) + `kl_weight` x the KL to N(0, 1)."""
    l1 = (recon - frames).abs().mean()
    grad = _gradient_l1(recon, frames)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
    total = l1 + grad + kl_weight * kl
    return total, {"l1": l1.item(), "grad": grad.item(), "kl": kl.item()}


def _gradient_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Finite differences along H, W and T: a blurry reconstruction loses these first.
    dh = (pred.diff(dim=3) - target.diff(dim=3)).abs().mean()
    dw = (pred.diff(dim=4) - target.diff(dim=4)).abs().mean()
    dt = (pred.diff(dim=2) - target.diff(dim=2)).abs().mean()
    return dh + dw + 0.5 * dt
