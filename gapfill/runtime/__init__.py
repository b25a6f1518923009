"""Inference backends behind one interface: eager torch, ONNX Runtime, TensorRT.

    from gapfill.runtime import select_backend
    backend = select_backend("auto", checkpoint_dir)   # backend.name: "tensorrt", "onnx", "torch"

Every backend has what the segment loop (gapfill.fill.generate) uses: encode, denoise,
update_memory, decode, initial_memory (numpy float32, batch first), `.config` (MaltConfig), and
`.name` and `.provider` for the logs. Nothing heavy is imported here: torch, onnxruntime and
tensorrt are imported by the backend that needs them, when it is built.

Where exports are found: a checkpoint folder C may hold its ONNX export in C/onnx (the default
output of `gapfill export onnx C`) and TensorRT engines in C/onnx/tensorrt or C/tensorrt. A path
to an export folder (one with manifest.json) works too. An export whose manifest names other
weights than the checkpoint's (sha256) is stale: `auto` skips it, an explicit kind refuses it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from gapfill.errors import UserError
from gapfill.network.config import WEIGHTS_NAME, default_checkpoint_dir
from gapfill.runtime.backend import Backend, NamedBackend
from gapfill.runtime.device import check_device, resolve_device
from gapfill.runtime.manifest import (
    DEFAULT_ONNX_SUBDIR,
    DEFAULT_TENSORRT_SUBDIR,
    MANIFEST_NAME,
    ONNX_FORMAT,
    TENSORRT_FORMAT,
    file_sha256,
    read_manifest,
)

log = logging.getLogger("gapfill.runtime")

BackendKind = Literal["auto", "torch", "onnx", "tensorrt"]
BACKEND_KINDS = ("auto", "torch", "onnx", "tensorrt")


class _Found:
    """What a path holds: a checkpoint, an ONNX export, TensorRT engines (any may be None)."""

    def __init__(self, path: Path):
        self.path = path
        self.checkpoint: Path | None = None
        self.onnx: Path | None = None
        self.tensorrt: Path | None = None
        self.stale: list[str] = []  # why an export beside the checkpoint was not used


def _format_of(folder: Path) -> str | None:
    if not (folder / MANIFEST_NAME).is_file():
        return None
    try:
        return read_manifest(folder)["format"]
    except UserError:
        return None


def _checkpoint_sha(manifest_folder: Path) -> str | None:
    try:
        return read_manifest(manifest_folder).get("checkpoint", {}).get("sha256")
    except UserError:
        return None


def locate(path: Path) -> _Found:
    """Sort out what `path` is and which exports beside it match its weights."""
    found = _Found(path)
    kind = _format_of(path)
    if kind == ONNX_FORMAT:
        found.onnx = path
        trt = path / DEFAULT_TENSORRT_SUBDIR
        found.tensorrt = trt if _format_of(trt) == TENSORRT_FORMAT else None
        return found
    if kind == TENSORRT_FORMAT:
        found.tensorrt = path
        return found
    # A checkpoint folder (or something load_model will refuse with the right message).
    found.checkpoint = path
    weights = path / WEIGHTS_NAME
    onnx_dir = path / DEFAULT_ONNX_SUBDIR
    candidates = [
        ("onnx", onnx_dir, ONNX_FORMAT),
        ("tensorrt", onnx_dir / DEFAULT_TENSORRT_SUBDIR, TENSORRT_FORMAT),
        ("tensorrt", path / DEFAULT_TENSORRT_SUBDIR, TENSORRT_FORMAT),
    ]
    sha: str | None = None
    for attr, folder, fmt in candidates:
        if getattr(found, attr) is not None or _format_of(folder) != fmt:
            continue
        if sha is None and weights.is_file():  # hashed only when there is an export to match
            sha = file_sha256(weights)
        if sha is None or _checkpoint_sha(folder) != sha:
            found.stale.append(f"{folder}: exported from other weights than {weights}")
            continue
        setattr(found, attr, folder)
    return found


def _build(kind: str, found: _Found, device: str, precision: str, threads: int | None):
    if kind == "tensorrt":
        from gapfill.runtime.tensorrt_backend import TensorRTBackend, import_tensorrt

        import_tensorrt()  # the "not installed" line comes before any folder complaint
        if device == "cpu":
            raise UserError("--backend tensorrt needs a GPU; --device cpu excludes it")
        if found.tensorrt is None:
            raise UserError(_missing(found, "TensorRT engines", "gapfill export tensorrt"))
        return TensorRTBackend(found.tensorrt)
    if kind == "onnx":
        from gapfill.runtime.onnx_backend import OnnxBackend

        if found.onnx is None:
            raise UserError(_missing(found, "ONNX export", "gapfill export onnx"))
        return OnnxBackend(found.onnx, device=device, precision=precision, threads=threads)
    from gapfill.network.checkpoint import load_model
    from gapfill.runtime.torch_backend import TorchBackend

    if found.checkpoint is None:
        raise UserError(
            f"{found.path}: an export folder; the torch backend needs the checkpoint folder"
        )
    model = load_model(found.checkpoint)
    return TorchBackend(model, threads=threads, device=resolve_device(device))


def _missing(found: _Found, what: str, command: str) -> str:
    if found.stale:
        return f"{found.stale[0]} (stale {what}; run `{command}` again)"
    return f"{found.path}: no {what} here or beside it (make one with `{command}`)"


def select_backend(
    kind: str = "auto",
    checkpoint_or_export_dir: str | Path | None = None,
    device: str = "auto",
    *,
    precision: str = "fp32",
    threads: int | None = None,
) -> NamedBackend:
    """A ready backend of `kind` for a checkpoint or export folder (None: the shipped model).

    kind "auto" picks the fastest that works here: TensorRT on a CUDA host with engines, else
    ONNX Runtime when an export of these weights exists, else eager torch. device: "auto", "cpu"
    or "cuda". precision: which ONNX variant ("fp32", "fp16", "int8"). The choice is logged at
    INFO; the returned backend's `.name` and `.provider` say what runs.
    """
    if kind not in BACKEND_KINDS:
        raise UserError(f"--backend: {kind!r} is not one of {', '.join(BACKEND_KINDS)}")
    check_device(device)
    path = Path(checkpoint_or_export_dir or default_checkpoint_dir())
    if not path.is_dir():
        raise UserError(f"{path}: checkpoint or export folder not found")
    found = locate(path)
    for reason in found.stale:
        log.warning("backend: ignoring %s", reason)
    kinds = _auto_kinds(found, device) if kind == "auto" else [kind]
    for candidate in kinds[:-1]:
        try:
            backend = _build(candidate, found, device, precision, threads)
            break
        except UserError as exc:  # auto: a backend that cannot load here gives way to the next
            log.warning("backend: %s unusable, trying the next (%s)", candidate, exc)
    else:
        backend = _build(kinds[-1], found, device, precision, threads)
    log.info(
        "backend: %s (%s)",
        backend.name,
        backend.provider,
        extra={"backend": backend.name, "provider": backend.provider, "model_path": str(path)},
    )
    return backend


def _auto_kinds(found: _Found, device: str) -> list[str]:
    """Backends to try, fastest first; torch, always last, is the one that must work."""
    from gapfill.runtime.onnx_backend import onnxruntime_available
    from gapfill.runtime.tensorrt_backend import cuda_available, tensorrt_installed

    kinds = []
    # find_spec before torch.cuda: a CPU box without tensorrt never pays for importing torch here.
    if device != "cpu" and found.tensorrt is not None and tensorrt_installed() and cuda_available():
        kinds.append("tensorrt")
    if found.onnx is not None and onnxruntime_available():
        kinds.append("onnx")
    if found.checkpoint is not None or not kinds:
        kinds.append("torch")
    return kinds


def create_backend(name: str, checkpoint: str | Path | None = None) -> NamedBackend:
    """`select_backend(name, checkpoint)`: the hook benchmarks/fill_speed.py looks for."""
    return select_backend(name, checkpoint)


__all__ = ["BACKEND_KINDS", "Backend", "NamedBackend", "create_backend", "locate", "select_backend"]
