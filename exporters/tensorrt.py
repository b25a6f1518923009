"""Build fp16 TensorRT engines from an ONNX export folder (`gapfill export onnx`).

    from exporters.tensorrt import build_engines
    manifest = build_engines(Path("ckpt/onnx"), Path("ckpt/onnx/tensorrt"))

One engine per graph, each with one optimisation profile covering the working sizes: batch 1..
max_batch (optimised for 1, what the segment loop sends) and, for encode and decode, 1..
max_segments segments (optimised for 1). The fp32 ONNX graphs are the input; TensorRT picks fp16
kernels where it may (BuilderFlag.FP16), inputs and outputs stay float32. After building, each
engine is run against ONNX Runtime on random inputs and the figures go into the manifest.

tensorrt is imported lazily: on a host without it (any CPU-only box) this raises a one-line
UserError, which `gapfill export tensorrt` turns into exit status 1.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from exporters.onnx import call_graph, check_output_folder, move_in, parity, random_inputs
from gapfill.errors import UserError
from gapfill.network.config import CONFIG_NAME
from gapfill.runtime.manifest import (
    EXPORT_FORMAT_VERSION,
    GRAPH_INPUTS,
    GRAPH_NAMES,
    INITIAL_MEMORY_NAME,
    MANIFEST_NAME,
    ONNX_FORMAT,
    TENSORRT_FORMAT,
    export_config,
    file_sha256,
    read_manifest,
    verify_file,
)
from gapfill.runtime.tensorrt_backend import import_tensorrt

log = logging.getLogger("gapfill.export")

DEFAULT_MAX_BATCH = 4
DEFAULT_MAX_SEGMENTS = 4
WORKSPACE_BYTES = 2 << 30


def profile_shapes(
    config: Any, graph: str, max_batch: int, max_segments: int
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape of every input of `graph`: batch 1/1/max, segments 1/1/max."""
    c, f, h, w = config.latent_shape
    fixed: dict[str, tuple[int, ...]] = {
        "z_t": (c, f, h, w),
        "t": (),
        "memory": config.memory_shape,
        "anchor": (c, f, h, w),
        "anchor_offset": (),
        "guide": (c + 1, f, h, w),
        "memory_noise": (),
        "z": (c, f, h, w),
    }
    shapes = {}
    for name in GRAPH_INPUTS[graph]:
        if graph == "encode":  # frames (B, 3, 16k, H, W)
            seg = config.segment_frames

            def frames(b: int, k: int, seg: int = seg) -> tuple[int, ...]:
                return (b, 3, seg * k, config.height, config.width)

            shapes[name] = (frames(1, 1), frames(1, 1), frames(max_batch, max_segments))
        elif graph == "decode":  # z (B, C, 4k, h, w)
            shapes[name] = (
                (1, c, f, h, w),
                (1, c, f, h, w),
                (max_batch, c, f * max_segments, h, w),
            )
        else:
            rest = fixed[name]
            shapes[name] = ((1, *rest), (1, *rest), (max_batch, *rest))
    return shapes


def _build_one(trt: Any, onnx_path: Path, shapes: dict[str, Any]) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    # TensorRT 8 needs explicit batch asked for; 10 has nothing else and deprecates the flag.
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if explicit is not None and int(trt.__version__.split(".")[0]) < 10:
        flags = 1 << int(explicit)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"{onnx_path}: TensorRT cannot parse this graph ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"{onnx_path}: TensorRT failed to build an engine (see the log)")
    return bytes(serialized)


def _measure_parity(staging: Path, onnx_dir: Path, config: Any) -> dict[str, dict[str, float]]:
    """Each engine vs ONNX Runtime fp32 on the CPU, random inputs at batch 1, one segment."""
    from gapfill.runtime.onnx_backend import OnnxBackend
    from gapfill.runtime.tensorrt_backend import TensorRTBackend

    engines = TensorRTBackend(staging)
    reference = OnnxBackend(onnx_dir, device="cpu")
    rng = np.random.Generator(np.random.PCG64(0))
    figures = {}
    for graph in GRAPH_NAMES:
        args = random_inputs(config, graph, rng, batch=1, segments=1)
        expected = getattr(reference, graph)(*args)
        figures[graph] = parity(expected, call_graph(engines, graph, args))
    return figures


def build_engines(
    onnx_dir: Path,
    out: Path,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
) -> dict[str, Any]:
    """Build the four engines from `onnx_dir` into `out`; returns the manifest written."""
    onnx_dir, out = Path(onnx_dir), Path(out)
    source = read_manifest(onnx_dir, ONNX_FORMAT)
    config = export_config(onnx_dir)
    if max_batch < 1 or max_segments < 1:
        raise UserError("--max-batch and --max-segments must be at least 1")
    check_output_folder(out, TENSORRT_FORMAT)
    # Only now the host: a mistyped path is reported as such on any machine, not hidden behind
    # a missing TensorRT that the operator would go and install for nothing.
    trt = import_tensorrt()
    import torch

    if not torch.cuda.is_available():
        raise UserError("TensorRT engines are built on the GPU they run on: no CUDA GPU here")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        engines: dict[str, Any] = {}
        profiles: dict[str, Any] = {}
        for graph in GRAPH_NAMES:
            onnx_path = verify_file(onnx_dir, source["variants"]["fp32"]["graphs"][graph])
            shapes = profile_shapes(config, graph, max_batch, max_segments)
            engine_path = staging / f"{graph}.plan"
            engine_path.write_bytes(_build_one(trt, onnx_path, shapes))
            engines[graph] = {"file": engine_path.name, "sha256": file_sha256(engine_path)}
            profiles[graph] = {n: [list(s) for s in mmo] for n, mmo in shapes.items()}
            log.info("built TensorRT %s engine", graph)
        shutil.copyfile(onnx_dir / CONFIG_NAME, staging / CONFIG_NAME)
        shutil.copyfile(onnx_dir / INITIAL_MEMORY_NAME, staging / INITIAL_MEMORY_NAME)
        manifest: dict[str, Any] = {
            "format": TENSORRT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "checkpoint": source["checkpoint"],  # what select_backend compares for staleness
            "onnx": {
                "path": str(onnx_dir.resolve()),
                "manifest_sha256": file_sha256(onnx_dir / MANIFEST_NAME),
            },
            "tensorrt_version": trt.__version__,
            "gpu": torch.cuda.get_device_name(),
            "precision": "fp16",
            "profiles": profiles,
            "initial_memory": {
                "file": INITIAL_MEMORY_NAME,
                "sha256": file_sha256(staging / INITIAL_MEMORY_NAME),
            },
            "engines": engines,
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        try:
            manifest["parity_vs_onnxruntime"] = _measure_parity(staging, onnx_dir, config)
        except Exception as exc:  # the engines are built; a failed check is recorded, not fatal
            log.warning("TensorRT parity check failed: %s", exc)
            manifest["parity_vs_onnxruntime"] = {"error": f"{type(exc).__name__}: {exc}"}
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        move_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


__all__ = ["build_engines", "profile_shapes"]
