"""The eager PyTorch backend of the segment loop: numpy in, numpy out, over a `Malt` module."""

from __future__ import annotations

import numpy as np
import torch

from gapfill.model.config import MaltConfig
from gapfill.model.malt import Malt


class TorchBackend:
    name = "torch"

    def __init__(self, model: Malt, threads: int | None = None):
        self.model = model.eval()
        self.config: MaltConfig = model.config
        if threads is not None:
            torch.set_num_threads(threads)

    @staticmethod
    def _t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> np.ndarray:
        return self.model.encode(self._t(frames)).numpy()

    @torch.inference_mode()
    def denoise(
        self,
        z_t: np.ndarray,
        t: np.ndarray,
        memory: np.ndarray,
        anchor: np.ndarray,
        anchor_offset: np.ndarray,
        guide: np.ndarray,
        memory_noise: np.ndarray,
    ) -> np.ndarray:
        args = (z_t, t, memory, anchor, anchor_offset, guide, memory_noise)
        return self.model.denoise(*(self._t(a) for a in args)).numpy()

    @torch.inference_mode()
    def update_memory(self, memory: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.model.update_memory(self._t(memory), self._t(z)).numpy()

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.model.decode(self._t(z)).numpy()

    @torch.inference_mode()
    def initial_memory(self, batch: int) -> np.ndarray:
        return self.model.initial_memory(batch).numpy().copy()
