"""Export a MALT checkpoint as four ONNX graphs with the memory as an explicit input and output.

    from exporters.onnx import export_onnx
    manifest = export_onnx(Path("ckpt"), Path("ckpt/onnx"), fp16=True, int8=True)

The graphs are `Malt.graphs()` exported with torch.onnx (the dynamo exporter), with named tensors
and a dynamic batch axis; encode and decode also take any whole number of segments (the frame
axis is 16*k frames / 4*k latent frames). The denoiser's latent frames and the memory are fixed by
the configuration (its frame positions and memory tokens are learned per slot).

Every graph is run against PyTorch on random inputs at export time; the figures go into
manifest.json, so a deployment can see what precision it bought (see gapfill.runtime.manifest
for the folder's layout). Everything is built in a staging folder next to the output and moved
in at the end, manifest last, so a folder with a manifest is always complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.errors import UserError
from gapfill.network.config import CONFIG_NAME, WEIGHTS_NAME, MaltConfig
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.runtime.manifest import (
    EXPORT_FORMAT_VERSION,
    GRAPH_INPUTS,
    GRAPH_NAMES,
    GRAPH_OUTPUTS,
    INITIAL_MEMORY_NAME,
    MANIFEST_NAME,
    ONNX_FORMAT,
    file_sha256,
    graph_file,
    graph_shapes,
    read_manifest,
)

log = logging.getLogger("gapfill.export")

DEFAULT_OPSET = 18
MIN_OPSET = 18  # the torch.onnx dynamo exporter's lowest
# The largest batch and segment count the dynamic axes promise (the exporter wants a bound).
MAX_BATCH = 64
MAX_SEGMENTS = 64
# The batch used while tracing and checking: 2, because the exporter specialises an axis of 1.
TRACE_BATCH = 2
# Parity bounds checked at export time (max abs error over the output's max abs value). fp32
# is arithmetic-order noise; fp16 and int8 are what those precisions cost on random inputs. The
# int8 denoiser's error depends on the draw: 0.04-0.27 over five draws for the tests' tiny model
# with onnxruntime 1.32 (activations are quantised per call; benchmarks/int8_parity.py); the
# shipped model's int8 fill is 52 dB from the fp32 one (benchmarks/results/backends.txt).
PARITY_BOUNDS = {"fp32": 1e-4, "fp16": 2e-2, "int8": 3e-1}


def random_inputs(
    config: MaltConfig,
    graph: str,
    rng: np.random.Generator,
    batch: int = TRACE_BATCH,
    segments: int = 1,
) -> tuple[np.ndarray, ...]:
    """Random float32 inputs of `graph` in the ranges the segment loop feeds it."""
    c, f, h, w = config.latent_shape
    seg = config.segment_frames

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    if graph == "encode":
        # frames (B, 3, 16k, H, W) in [-1, 1]
        return (
            rng.uniform(-1, 1, (batch, 3, seg * segments, config.height, config.width)).astype(
                np.float32
            ),
        )
    if graph == "decode":
        return (normal(batch, c, f * segments, h, w),)  # z (B, C, 4k, h, w)
    memory = normal(batch, *config.memory_shape)  # (B, L, M, D)
    if graph == "update_memory":
        return memory, normal(batch, c, f, h, w)
    if graph == "denoise":
        # Half of the batch with an anchor (offset >= 0), half without (-1: the learned null).
        offset = np.where(np.arange(batch) % 2 == 0, rng.uniform(0, 8, batch), -1.0)
        mask = (rng.uniform(0, 1, (batch, 1, f, h, w)) > 0.5).astype(np.float32)
        return DenoiserInputs(
            z_t=normal(batch, c, f, h, w),
            t=rng.uniform(0, 1, batch).astype(np.float32),
            memory=memory,
            anchor=normal(batch, c, f, h, w),
            anchor_offset=offset.astype(np.float32),
            guide=np.concatenate([normal(batch, c, f, h, w), mask], axis=1),  # (B, C+1, F, h, w)
            memory_noise=rng.uniform(0, 0.5, batch).astype(np.float32),
        ).in_graph_order()
    raise ValueError(f"unknown graph {graph!r}")


def call_graph(backend: Any, graph: str, args: tuple[np.ndarray, ...]) -> np.ndarray:
    """Run `graph` on a backend of gapfill.runtime with the graph's positional inputs (as
    random_inputs gives them): the backends take the denoiser's as one DenoiserInputs."""
    if graph == "denoise":
        return backend.denoise(DenoiserInputs(*args))
    return getattr(backend, graph)(*args)


def parity(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """max_abs: largest elementwise difference; max_rel: that over the reference's largest value.

    Relative to the output's scale, not elementwise: elementwise ratios explode where the
    reference crosses zero and say nothing about the fill.
    """
    if reference.shape != candidate.shape:
        raise RuntimeError(f"output shape {candidate.shape}, PyTorch gives {reference.shape}")
    diff = float(np.max(np.abs(reference.astype(np.float64) - candidate.astype(np.float64))))
    scale = float(np.max(np.abs(reference))) or 1.0
    return {"max_abs": diff, "max_rel": diff / scale}


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    # The dynamo exporter warns about torchvision ops and deprecated tree specs: noise here.
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "root")
    loggers = [logging.getLogger(n if n != "root" else None) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _dynamic_shapes(config: MaltConfig, graph: str) -> dict[str, dict[int, Any]]:
    """Dynamic axes of one graph's inputs, as torch.export dims (fresh per export)."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    segments = torch.export.Dim("segments", min=1, max=MAX_SEGMENTS)
    if graph == "encode":  # frames (B, 3, 16k, H, W)
        return {"frames": {0: batch, 2: config.segment_frames * segments}}
    if graph == "decode":  # z (B, C, 4k, h, w)
        return {"z": {0: batch, 2: config.latent_frames * segments}}
    return {name: {0: batch} for name in GRAPH_INPUTS[graph]}


def _export_graph(
    module: Any, graph: str, args: tuple[np.ndarray, ...], path: Path, opset: int
) -> None:
    """torch.onnx.export of one graph into a single self-contained .onnx file."""
    import onnx
    import torch

    tensors = tuple(torch.from_numpy(a) for a in args)
    with _quiet_exporter():
        program = torch.onnx.export(
            module,
            tensors,
            None,
            input_names=list(GRAPH_INPUTS[graph]),
            output_names=[GRAPH_OUTPUTS[graph]],
            dynamic_shapes=_dynamic_shapes(module.malt.config, graph),
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        raise RuntimeError(f"torch.onnx.export gave no program for {graph}")
    # Weights inside the file (no .onnx.data beside it): the graphs are far below 2 GB.
    onnx.save_model(program.model_proto, str(path), save_as_external_data=False)
    onnx.checker.check_model(str(path))


def _run_onnx(path: Path, graph: str, args: tuple[np.ndarray, ...]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(GRAPH_INPUTS[graph], args, strict=True)))[0]


def _to_fp16(source: Path, dest: Path) -> None:
    """fp16 weights and arithmetic, float32 inputs and outputs (the runtime feeds float32)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _quiet_exporter():
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save_model(model, str(dest))


def _to_int8(source: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of the weights (MatMul/Conv), activations quantised per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_exporter():
        quantize_dynamic(str(source), str(dest), weight_type=QuantType.QInt8)


def _check_checkpoint(checkpoint: Path) -> None:
    if not checkpoint.is_dir():
        raise UserError(f"{checkpoint}: checkpoint folder not found")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (checkpoint / name).is_file():
            raise UserError(f"{checkpoint / name}: not found (not a MALT checkpoint folder)")


def _check_opset(opset: int) -> None:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise UserError(f"--opset: {opset} is outside {MIN_OPSET}..{newest} (this onnx)")


def export_onnx(
    checkpoint: Path,
    out: Path,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    int8: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Export `checkpoint` into `out` (created or updated); returns the manifest written.

    Raises UserError for a missing or corrupt checkpoint, a bad opset, an output that is (or is
    under) a file, and for a graph whose parity with PyTorch is outside PARITY_BOUNDS (nothing is
    written then).
    """
    checkpoint, out = Path(checkpoint), Path(out)
    _check_checkpoint(checkpoint)
    _check_opset(opset)
    if out.resolve() == checkpoint.resolve():
        raise UserError(f"{out}: the export must go in its own folder, not the checkpoint's")
    check_output_folder(out, ONNX_FORMAT)

    import onnx
    import onnxruntime
    import torch

    from gapfill.network.checkpoint import load_model

    model = load_model(checkpoint)  # UserError for corrupt or mismatched weights
    config = model.config
    graphs = {name: module.eval() for name, module in model.graphs().items()}
    rng = np.random.Generator(np.random.PCG64(seed))
    precisions = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        variants: dict[str, Any] = {p: {"graphs": {}} for p in precisions}
        for name in GRAPH_NAMES:
            # Traced with 2 segments (an axis of 1 would be specialised), checked with 3: the
            # check proves the batch and segment axes dynamic as well as the arithmetic right.
            check = random_inputs(config, name, rng, batch=3, segments=3)
            with torch.inference_mode():
                reference = graphs[name](*(torch.from_numpy(a) for a in check)).numpy()
            trace = random_inputs(config, name, rng, segments=2)
            _export_graph(graphs[name], name, trace, staging / graph_file(name), opset)
            for precision in precisions:
                path = staging / graph_file(name, precision)
                if precision == "fp16":
                    _to_fp16(staging / graph_file(name), path)
                elif precision == "int8":
                    _to_int8(staging / graph_file(name), path)
                figures = parity(reference, _run_onnx(path, name, check))
                bound = PARITY_BOUNDS[precision]
                if not figures["max_rel"] <= bound:
                    raise UserError(
                        f"{checkpoint}: {precision} {name} graph differs from PyTorch by "
                        f"{figures['max_rel']:.2e} of its scale (bound {bound:.0e})"
                    )
                variants[precision]["graphs"][name] = {
                    "file": path.name,
                    "sha256": file_sha256(path),
                    "bytes": path.stat().st_size,
                    "parity": {**figures, "bound_max_rel": bound},
                }
                log.info("exported %s %s: %s", precision, name, figures)

        initial = model.initial_memory(1)[0].detach().numpy().astype(np.float32)  # (L, M, D)
        np.save(staging / INITIAL_MEMORY_NAME, initial, allow_pickle=False)
        shutil.copyfile(checkpoint / CONFIG_NAME, staging / CONFIG_NAME)
        manifest = {
            "format": ONNX_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "checkpoint": {
                "path": str(checkpoint.resolve()),
                "sha256": file_sha256(checkpoint / WEIGHTS_NAME),
                "config_sha256": file_sha256(checkpoint / CONFIG_NAME),
            },
            "opset": opset,
            "versions": {
                "torch": torch.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__,
            },
            "dynamic_axes": {
                "batch": [1, MAX_BATCH],
                "segments": [1, MAX_SEGMENTS],
                "note": "batch on every tensor; segments on encode frames and decode z only",
            },
            "shapes": graph_shapes(config),
            "initial_memory": {
                "file": INITIAL_MEMORY_NAME,
                "sha256": file_sha256(staging / INITIAL_MEMORY_NAME),
                "shape": list(initial.shape),
            },
            "parity_inputs": {
                "kind": "random (frames U(-1,1), latents and memory N(0,1), t U(0,1))",
                "batch": 3,
                "segments": 3,
                "seed": seed,
                "max_rel": "max |onnx - torch| / max |torch|",
            },
            "variants": variants,
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        move_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def check_output_folder(out: Path, export_format: str) -> None:
    """Refuse an output folder that cannot be made, or that holds anything but an earlier export
    of `export_format` (which the new one replaces), before minutes of exporting."""
    # lexists: a dangling symlink on the way is as much in the way as a file.
    existing = next(p for p in (out, *out.parents) if os.path.lexists(p))
    if not existing.is_dir():
        if existing == out:
            raise UserError(f"{out}: exists and is not a folder")
        raise UserError(f"{out}: cannot create this folder, {existing} is not a folder")
    if existing != out or not any(out.iterdir()):
        return
    # The export's files would land among whatever is there, replacing any of the same name:
    # only a folder this export wrote before may be written over. Nothing is ever deleted.
    try:
        read_manifest(out, export_format)
    except UserError:
        raise UserError(
            f"{out}: folder is not empty and holds no {export_format} export; "
            "give a new or empty folder"
        ) from None


def move_in(staging: Path, out: Path) -> None:
    """Put the staged files in `out`: the old manifest goes first, the new one comes last."""
    for path in staging.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    if not out.exists():
        staging.chmod(0o755)  # mkdtemp made it private
        staging.rename(out)
        return
    (out / MANIFEST_NAME).unlink(missing_ok=True)  # from here until the end: "unfinished"
    for path in sorted(staging.iterdir(), key=lambda p: p.name == MANIFEST_NAME):
        os.replace(path, out / path.name)


__all__ = [
    "DEFAULT_OPSET",
    "PARITY_BOUNDS",
    "check_output_folder",
    "export_onnx",
    "parity",
    "random_inputs",
]
