"""What the denoiser reads for one segment: one name for its seven inputs.

The fields, in this order, are also the exported denoise graph's inputs (their names are
gapfill.runtime.manifest.GRAPH_INPUTS["denoise"]). Torch code fills them with tensors, the
backends of gapfill.runtime with numpy float32 arrays; both batch first. No torch here: the numpy
side imports this too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class DenoiserInputs(Generic[T]):
    z_t: T  # (B, C, F, h, w) noisy latent of the segment
    t: T  # (B,) diffusion time in [0, 1]
    memory: T  # (B, L, M, D) the memory of the footage so far
    anchor: T  # (B, C, F, h, w) latent of the footage after the gap
    anchor_offset: T  # (B,) segments from this segment to the anchor; negative: no anchor
    guide: T  # (B, C+1, F, h, w) first-guess latent and known-frame mask
    memory_noise: T  # (B,) noise level the memory was built with

    def in_graph_order(self) -> tuple[T, ...]:
        """The fields as the exported graph takes them, positionally."""
        return tuple(getattr(self, field.name) for field in fields(self))

    def map(self, convert: Callable[[T], U]) -> DenoiserInputs[U]:
        """The same inputs with `convert` applied to each (numpy -> torch, say)."""
        return DenoiserInputs(*(convert(value) for value in self.in_graph_order()))


# The exported denoise graph's input names, in call order.
DENOISER_INPUT_NAMES = tuple(field.name for field in fields(DenoiserInputs))
