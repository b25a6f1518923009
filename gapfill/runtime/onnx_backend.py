"""The ONNX Runtime backend: the four exported graphs, one session each, created once.

No torch: a box that only fills gaps can run MALT from an export folder with numpy and
onnxruntime. The memory travels as a numpy array between calls, exactly as in the torch backend,
so the segment loop (gapfill.fill.generate) cannot tell the two apart.
"""

from __future__ import annotations

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
    INITIAL_MEMORY_NAME,
    ONNX_FORMAT,
    PRECISIONS,
    export_config,
    read_manifest,
    verify_file,
)

log = logging.getLogger("gapfill.runtime")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_providers(device: str) -> list[str]:
    """Execution providers to ask for, best first: CUDA where wanted and built in, CPU last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda":
        if CUDA not in available:
            raise UserError(
                "--device cuda: this onnxruntime has no CUDA execution provider "
                "(install onnxruntime-gpu)"
            )
        return [CUDA, CPU]
    if device == "auto" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


class OnnxBackend(GraphBackend):
    name = "onnx"

    def __init__(
        self,
        export_dir: Path,
        device: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
    ):
        import onnxruntime as ort

        self.export_dir = Path(export_dir)
        self.manifest: dict[str, Any] = read_manifest(self.export_dir, ONNX_FORMAT)
        self.config: MaltConfig = export_config(self.export_dir)
        variants = self.manifest.get("variants", {})
        if precision not in PRECISIONS:
            raise UserError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
        if precision not in variants:
            raise UserError(
                f"{self.export_dir}: no {precision} graphs in this export "
                f"(it has {', '.join(sorted(variants)) or 'none'})"
            )
        self.precision = precision
        self._initial = self._load_initial_memory()

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: ORT's warnings are not the user's business
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = choose_providers(device)
        self.sessions: dict[str, Any] = {}
        for graph in GRAPH_NAMES:
            entry = variants[precision]["graphs"].get(graph)
            if entry is None:
                raise UserError(f"{self.export_dir}: manifest lists no {precision} {graph} graph")
            path = verify_file(self.export_dir, entry)
            try:
                self.sessions[graph] = ort.InferenceSession(
                    str(path), sess_options=options, providers=providers
                )
            except Exception as exc:  # ORT raises its own exception types for a bad graph
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise UserError(f"{path}: cannot load ONNX graph ({message})") from None
        # The providers actually in use: ORT silently drops CUDA when no GPU is usable.
        self.providers: list[str] = self.sessions["denoise"].get_providers()
        self.provider: str = self.providers[0]
        self._outputs = {g: [s.get_outputs()[0].name] for g, s in self.sessions.items()}
        log.debug("onnx backend: %s (%s) from %s", self.provider, precision, self.export_dir)

    def _load_initial_memory(self) -> np.ndarray:
        entry = self.manifest.get("initial_memory") or {}
        path = verify_file(self.export_dir, {"file": INITIAL_MEMORY_NAME, **entry})
        try:
            initial = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable initial memory ({exc})") from None
        if initial.shape != self.config.memory_shape:
            raise UserError(
                f"{path}: initial memory has shape {initial.shape}, "
                f"the configuration needs {self.config.memory_shape}"
            )
        return initial.astype(np.float32)

    def _run(self, graph: str, *arrays: np.ndarray) -> np.ndarray:
        feed = {
            name: np.ascontiguousarray(a, dtype=np.float32)
            for name, a in zip(GRAPH_INPUTS[graph], arrays, strict=True)
        }
        return self.sessions[graph].run(self._outputs[graph], feed)[0]
