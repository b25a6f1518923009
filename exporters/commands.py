"""`gapfill export onnx` and `gapfill export tensorrt` (registered in gapfill/cli.py).

torch, onnx, onnxruntime and tensorrt are imported inside the commands, so that `gapfill --help`
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gapfill.runtime.manifest import DEFAULT_ONNX_SUBDIR, DEFAULT_TENSORRT_SUBDIR

export_app = typer.Typer(
    help="Export MALT for faster inference runtimes (ONNX Runtime, TensorRT).",
    no_args_is_help=True,
)


@export_app.command("onnx")
def onnx(
    checkpoint: Path = typer.Argument(
        ..., help="Checkpoint folder (config.json + model.safetensors)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help=f"Output folder: new, empty, or an earlier ONNX export to write over "
        f"(default: CHECKPOINT/{DEFAULT_ONNX_SUBDIR}).",
    ),
    fp16: bool = typer.Option(False, "--fp16", help="Also write fp16 graphs (*.fp16.onnx)."),
    int8: bool = typer.Option(
        False, "--int8", help="Also write dynamically quantised int8 graphs (*.int8.onnx)."
    ),
    opset: int = typer.Option(18, "--opset", help="ONNX opset (18 or newer)."),
) -> None:
    """Export a checkpoint as four ONNX graphs: encode, denoise, update_memory, decode.

    The memory is an explicit input and output of fixed shape; batch (and, for encode/decode,
    the number of segments) is dynamic. Each graph is checked against PyTorch on random inputs
    and the figures go into OUT/manifest.json with the checkpoint's sha256 and the shapes.
    """
    from exporters.onnx import export_onnx

    target = out if out is not None else checkpoint / DEFAULT_ONNX_SUBDIR
    manifest = export_onnx(checkpoint, target, opset=opset, fp16=fp16, int8=int8)
    for precision, variant in manifest["variants"].items():
        worst = max(g["parity"]["max_rel"] for g in variant["graphs"].values())
        typer.echo(f"{target}: {precision} graphs, worst relative error vs PyTorch {worst:.1e}")


@export_app.command("tensorrt")
def tensorrt(
    onnx_dir: Path = typer.Argument(..., help="ONNX export folder (from `gapfill export onnx`)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output folder: new, empty, or an earlier TensorRT export to write over "
        f"(default: ONNX_DIR/{DEFAULT_TENSORRT_SUBDIR}).",
    ),
    max_batch: int = typer.Option(4, "--max-batch", help="Largest batch the engines accept."),
    max_segments: int = typer.Option(
        4, "--max-segments", help="Most segments per encode/decode call."
    ),
) -> None:
    """Build fp16 TensorRT engines from an ONNX export, on this host's GPU.

    Needs an NVIDIA GPU and the `tensorrt` Python package; engines only run on the GPU model
    and TensorRT version they were built with.
    """
    from exporters.tensorrt import build_engines

    target = out if out is not None else onnx_dir / DEFAULT_TENSORRT_SUBDIR
    manifest = build_engines(onnx_dir, target, max_batch=max_batch, max_segments=max_segments)
    typer.echo(f"{target}: TensorRT {manifest['tensorrt_version']} engines on {manifest['gpu']}")
