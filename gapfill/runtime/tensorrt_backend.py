"""The TensorRT backend: the four graphs as fp16 engines built by `gapfill export tensorrt`.

Loads only on a CUDA host with the `tensorrt` package (imported lazily, so that importing this
module costs nothing elsewhere). Device buffers and the CUDA stream come from torch, which is
installed anyway; the memory is copied in and out as numpy like every other backend, so the
segment loop is unchanged. An engine is tied to the TensorRT version and GPU it was built on:
a mismatch is refused with the rebuild command.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.errors import UserError
from gapfill.network.config import MaltConfig
from gapfill.runtime.graph_backend import GraphBackend
from gapfill.runtime.manifest import (
    GRAPH_INPUTS,
    GRAPH_NAMES,
    GRAPH_OUTPUTS,
    INITIAL_MEMORY_NAME,
    TENSORRT_FORMAT,
    export_config,
    read_manifest,
    verify_file,
)

log = logging.getLogger("gapfill.runtime")

NOT_INSTALLED = "TensorRT is not installed (the Python package `tensorrt`; needs an NVIDIA GPU)"


def tensorrt_installed() -> bool:
    """Whether `import tensorrt` could work, without importing it (which is slow)."""
    return importlib.util.find_spec("tensorrt") is not None


def import_tensorrt() -> Any:
    """The tensorrt module, or a one-line UserError saying it is not installed."""
    try:
        import tensorrt
    except ImportError:
        raise UserError(NOT_INSTALLED) from None
    return tensorrt


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class TensorRTBackend(GraphBackend):
    name = "tensorrt"

    def __init__(self, engine_dir: Path):
        trt = import_tensorrt()
        import torch

        if not torch.cuda.is_available():
            raise UserError("tensorrt backend: no CUDA GPU on this host")
        self.engine_dir = Path(engine_dir)
        self.manifest: dict[str, Any] = read_manifest(self.engine_dir, TENSORRT_FORMAT)
        self.config: MaltConfig = export_config(self.engine_dir)
        built_with = self.manifest.get("tensorrt_version")
        if built_with != trt.__version__:
            raise UserError(
                f"{self.engine_dir}: engines built with TensorRT {built_with}, this host has "
                f"{trt.__version__}; rebuild them with `gapfill export tensorrt`"
            )
        self.provider = f"TensorRT {trt.__version__} on {torch.cuda.get_device_name()}"
        self._torch = torch
        self._device = torch.device("cuda")
        self._stream = torch.cuda.Stream()
        self._logger = trt.Logger(trt.Logger.ERROR)
        self._runtime = trt.Runtime(self._logger)
        self._engines: dict[str, Any] = {}
        self._contexts: dict[str, Any] = {}
        for graph in GRAPH_NAMES:
            entry = self.manifest.get("engines", {}).get(graph)
            if entry is None:
                raise UserError(f"{self.engine_dir}: manifest lists no {graph} engine")
            path = verify_file(self.engine_dir, entry)
            engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                raise UserError(f"{path}: TensorRT cannot load this engine (other GPU or version)")
            self._engines[graph] = engine
            self._contexts[graph] = engine.create_execution_context()
        initial = np.load(verify_file(self.engine_dir, self.manifest["initial_memory"]))
        self._initial = initial.astype(np.float32)

    def _run(self, graph: str, *arrays: np.ndarray) -> np.ndarray:
        torch = self._torch
        context = self._contexts[graph]
        # Inputs to the GPU on our stream; kept referenced until the stream is synchronised.
        with torch.cuda.stream(self._stream):
            inputs = [
                torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(
                    self._device, non_blocking=False
                )
                for a in arrays
            ]
            for name, tensor in zip(GRAPH_INPUTS[graph], inputs, strict=True):
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
            out_name = GRAPH_OUTPUTS[graph]
            out = torch.empty(
                tuple(context.get_tensor_shape(out_name)), dtype=torch.float32, device=self._device
            )
            context.set_tensor_address(out_name, out.data_ptr())
            if not context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"TensorRT {graph} engine failed to run")
        self._stream.synchronize()
        return out.cpu().numpy()


__all__ = ["INITIAL_MEMORY_NAME", "NOT_INSTALLED", "TensorRTBackend", "import_tensorrt"]
