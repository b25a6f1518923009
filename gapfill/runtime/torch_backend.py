"""The eager PyTorch backend of the segment loop: numpy in, numpy out, over a `Malt` module.

The reference every other backend is measured against (the exporters' parity figures, the
benchmarks' ratios). Runs on the CPU, or on a CUDA GPU when given device="cuda".
"""

from __future__ import annotations

import numpy as np
import torch

from gapfill.network.config import MaltConfig
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.malt import Malt


class TorchBackend:
    name = "torch"

    def __init__(self, model: Malt, threads: int | None = None, device: str = "cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.config: MaltConfig = model.config
        # What runs the arithmetic, in the same terms the onnx backend reports its provider.
        self.provider = f"torch:{self.device.type}"
        if threads is not None:
            torch.set_num_threads(threads)

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    @staticmethod
    def _np(x: torch.Tensor) -> np.ndarray:
        return x.float().cpu().numpy()

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> np.ndarray:
        return self._np(self.model.encode(self._t(frames)))

    @torch.inference_mode()
    def denoise(self, inputs: DenoiserInputs[np.ndarray]) -> np.ndarray:
        return self._np(self.model.denoise(inputs.map(self._t)))

    @torch.inference_mode()
    def update_memory(self, memory: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self._np(self.model.update_memory(self._t(memory), self._t(z)))

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        return self._np(self.model.decode(self._t(z)))

    @torch.inference_mode()
    def initial_memory(self, batch: int) -> np.ndarray:
        return self._np(self.model.initial_memory(batch)).copy()
