"""What an inference engine offers: the calls the segment loop (gapfill.fill.generate) makes.

Every backend of this package (torch_backend, onnx_backend, tensorrt_backend) has these, on numpy
float32 arrays, batch first; select_backend's also name themselves for the logs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from gapfill.network.config import MaltConfig
from gapfill.network.denoiser_inputs import DenoiserInputs


class Backend(Protocol):
    """What the loop needs from an inference engine; arrays are float32, batch first."""

    config: MaltConfig

    def encode(self, frames: np.ndarray) -> np.ndarray: ...

    def denoise(self, inputs: DenoiserInputs[np.ndarray]) -> np.ndarray: ...

    def update_memory(self, memory: np.ndarray, z: np.ndarray) -> np.ndarray: ...

    def decode(self, z: np.ndarray) -> np.ndarray: ...

    def initial_memory(self, batch: int) -> np.ndarray: ...


@runtime_checkable
class NamedBackend(Backend, Protocol):
    """A backend that select_backend builds: the loop's calls plus the names the logs report."""

    name: str
    provider: str
