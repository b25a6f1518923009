"""The on-disk format of an exported MALT: the folder the exporters write and the runtimes read.

An ONNX export folder holds, for one checkpoint:

    manifest.json           what was exported from what (checkpoint sha256, opset, shapes, parity)
    config.json             the checkpoint's MaltConfig (the runtimes need the sizes, not torch)
    initial_memory.npy      (L, M, D) float32: the learned starting memory, broadcast per batch
    encode.onnx             frames (B, 3, T, H, W) -> z (B, C, T/4, h, w)
    denoise.onnx            the fields of network.denoiser_inputs.DenoiserInputs, in order -> v
    update_memory.onnx      memory (B, L, M, D), z (B, C, F, h, w) -> memory_next (B, L, M, D)
    decode.onnx             z (B, C, F', h, w) -> frames (B, 3, 4F', H, W)
    <graph>.fp16.onnx, <graph>.int8.onnx   optional variants (float32 inputs and outputs)

A TensorRT folder holds manifest.json (format "gapfill-malt-tensorrt"), config.json,
initial_memory.npy and one <graph>.plan per graph. The manifest is written last: a folder without
one is an unfinished export and is refused. No torch here: the onnx runtime reads this.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gapfill.errors import UserError
from gapfill.network.config import CONFIG_NAME, MaltConfig, read_config
from gapfill.network.denoiser_inputs import DENOISER_INPUT_NAMES

MANIFEST_NAME = "manifest.json"
INITIAL_MEMORY_NAME = "initial_memory.npy"
ONNX_FORMAT = "gapfill-malt-onnx"
TENSORRT_FORMAT = "gapfill-malt-tensorrt"
EXPORT_FORMAT_VERSION = 1
# Where `gapfill export` puts its output by default, relative to what it exports; also where
# select_backend looks for an export beside a checkpoint.
DEFAULT_ONNX_SUBDIR = "onnx"
DEFAULT_TENSORRT_SUBDIR = "tensorrt"

GRAPH_NAMES = ("encode", "denoise", "update_memory", "decode")
# Input and output tensor names of each graph, in call order (the Backend protocol's arguments).
GRAPH_INPUTS: dict[str, tuple[str, ...]] = {
    "encode": ("frames",),
    "denoise": DENOISER_INPUT_NAMES,
    "update_memory": ("memory", "z"),
    "decode": ("z",),
}
GRAPH_OUTPUTS: dict[str, str] = {
    "encode": "z",
    "denoise": "v",
    "update_memory": "memory_next",
    "decode": "frames",
}
PRECISIONS = ("fp32", "fp16", "int8")


def graph_file(graph: str, precision: str = "fp32") -> str:
    """File name of one graph: encode.onnx, encode.fp16.onnx, encode.int8.onnx."""
    return f"{graph}.onnx" if precision == "fp32" else f"{graph}.{precision}.onnx"


def graph_shapes(config: MaltConfig) -> dict[str, dict[str, dict[str, list[int | str]]]]:
    """Symbolic shapes of every graph's inputs and outputs ("batch", "segments" are dynamic)."""
    c, f, h, w = config.latent_shape
    memory = ["batch", *config.memory_shape]
    latent = ["batch", c, f, h, w]
    segments_latent = ["batch", c, f"{f}*segments", h, w]
    frames = ["batch", 3, f"{config.segment_frames}*segments", config.height, config.width]
    return {
        "encode": {"inputs": {"frames": frames}, "outputs": {"z": segments_latent}},
        "denoise": {
            "inputs": {
                "z_t": latent,
                "t": ["batch"],
                "memory": memory,
                "anchor": latent,
                "anchor_offset": ["batch"],
                "guide": ["batch", c + 1, f, h, w],
                "memory_noise": ["batch"],
            },
            "outputs": {"v": latent},
        },
        "update_memory": {
            "inputs": {"memory": memory, "z": latent},
            "outputs": {"memory_next": memory},
        },
        "decode": {
            "inputs": {"z": segments_latent},
            "outputs": {"frames": frames},
        },
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path, expected_format: str | None = None) -> dict[str, Any]:
    """The manifest of an export folder, refusing a missing, unfinished or foreign folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: export folder not found")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise UserError(f"{path}: export manifest not found (not an export folder, or unfinished)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable export manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (
        ONNX_FORMAT,
        TENSORRT_FORMAT,
    ):
        raise UserError(f"{path}: not a gapfill export manifest")
    if expected_format is not None and manifest["format"] != expected_format:
        raise UserError(f"{path}: a {manifest['format']} export, expected {expected_format}")
    if manifest.get("format_version") != EXPORT_FORMAT_VERSION:
        raise UserError(
            f"{path}: export format version {manifest.get('format_version')!r}, "
            f"this gapfill reads {EXPORT_FORMAT_VERSION}"
        )
    return manifest


def export_config(folder: Path) -> MaltConfig:
    """The MaltConfig saved beside the exported graphs."""
    return read_config(Path(folder))


def verify_file(folder: Path, entry: dict[str, Any]) -> Path:
    """The file a manifest entry names, after checking it is there and unchanged (sha256)."""
    path = Path(folder) / str(entry.get("file", ""))
    if not path.is_file():
        raise UserError(f"{path}: exported file listed in the manifest is missing")
    if file_sha256(path) != entry.get("sha256"):
        raise UserError(f"{path}: does not match its manifest sha256 (corrupt or replaced)")
    return path


def is_export_folder(folder: Path) -> bool:
    return (Path(folder) / MANIFEST_NAME).is_file() and (Path(folder) / CONFIG_NAME).is_file()
