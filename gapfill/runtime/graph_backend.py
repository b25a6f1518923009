"""The four MALT calls over exported graphs, shared by the ONNX Runtime and TensorRT backends.

A subclass says how to run one graph (`_run(graph, *arrays)`) and holds the exported initial
memory (`_initial`, (L, M, D)); the calls themselves are the same for every engine.
"""

from __future__ import annotations

import numpy as np

from gapfill.network.denoiser_inputs import DenoiserInputs


class GraphBackend:
    _initial: np.ndarray

    def _run(self, graph: str, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, frames: np.ndarray) -> np.ndarray:
        # (B, 3, T, H, W) -> (B, C, T/4, h, w)
        return self._run("encode", frames)

    def denoise(self, inputs: DenoiserInputs[np.ndarray]) -> np.ndarray:
        return self._run("denoise", *inputs.in_graph_order())

    def update_memory(self, memory: np.ndarray, z: np.ndarray) -> np.ndarray:
        # (B, L, M, D), (B, C, F, h, w) -> (B, L, M, D)
        return self._run("update_memory", memory, z)

    def decode(self, z: np.ndarray) -> np.ndarray:
        # (B, C, F', h, w) -> (B, 3, 4F', H, W)
        return self._run("decode", z)

    def initial_memory(self, batch: int) -> np.ndarray:
        # (B, L, M, D); a copy, since the loop owns the array it is given
        return np.repeat(self._initial[None], batch, axis=0)
