"""ONNX export of MALT: each graph against PyTorch, the manifest, the variants, the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from malt_export import TINY, cli_output, footage, tiny_checkpoint, tiny_model

from exporters.onnx import PARITY_BOUNDS, call_graph, export_onnx, parity, random_inputs
from gapfill.errors import UserError
from gapfill.fill.generate import to_model_frames
from gapfill.network.config import WEIGHTS_NAME
from gapfill.network.denoiser_inputs import DenoiserInputs
from gapfill.network.sampler import alpha_sigma
from gapfill.runtime.manifest import (
    EXPORT_FORMAT_VERSION,
    GRAPH_INPUTS,
    GRAPH_NAMES,
    GRAPH_OUTPUTS,
    MANIFEST_NAME,
    ONNX_FORMAT,
    file_sha256,
    graph_file,
)

torch.set_num_threads(1)
# fp32 graphs vs eager PyTorch: arithmetic-order noise only. Absolute, on outputs of scale ~1.
FP32_MAX_ABS = 1e-4
FP32_MAX_REL = 1e-5
CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def sessions(checkpoint: Path) -> dict[str, ort.InferenceSession]:
    return {
        g: ort.InferenceSession(str(checkpoint / "onnx" / graph_file(g)), providers=[CPU])
        for g in GRAPH_NAMES
    }


def _run(session: ort.InferenceSession, graph: str, *args: np.ndarray) -> np.ndarray:
    return session.run(None, dict(zip(GRAPH_INPUTS[graph], args, strict=True)))[0]


def _torch(graph: str, *args: np.ndarray) -> np.ndarray:
    module = tiny_model().graphs()[graph].eval()
    with torch.inference_mode():
        return module(*(torch.from_numpy(a) for a in args)).numpy()


@pytest.mark.parametrize("graph", GRAPH_NAMES)
@pytest.mark.parametrize(("batch", "segments"), [(1, 1), (4, 2)])
def test_graph_matches_pytorch_on_random_inputs(sessions, graph, batch, segments):
    rng = np.random.default_rng(7)
    args = random_inputs(TINY, graph, rng, batch=batch, segments=segments)
    figures = parity(_torch(graph, *args), _run(sessions[graph], graph, *args))
    assert figures["max_abs"] <= FP32_MAX_ABS and figures["max_rel"] <= FP32_MAX_REL, figures


def test_graphs_match_pytorch_on_real_footage(sessions):
    """The segment loop's own inputs: real frames, their latents, a noised latent mid-sampling."""
    frames = footage(48)
    before = to_model_frames(frames[:16])  # (1, 3, 16, H, W)
    after = to_model_frames(frames[32:48])
    z = _torch("encode", before)
    checks = {
        "encode": (before,),
        "decode": (z,),
        "update_memory": (tiny_model().initial_memory(1).detach().numpy().copy(), z),
    }
    anchor = _torch("encode", after)
    a, s = alpha_sigma(0.6)
    noise = np.random.default_rng(0).standard_normal(z.shape, dtype=np.float32)
    mask = np.zeros((1, 1, *z.shape[2:]), np.float32)
    checks["denoise"] = DenoiserInputs(
        z_t=(a * z + s * noise).astype(np.float32),
        t=np.array([0.6], np.float32),
        memory=_torch("update_memory", *checks["update_memory"]),  # after one real segment
        anchor=anchor,
        anchor_offset=np.array([2.0], np.float32),  # two segments ahead
        guide=np.concatenate([z, mask], axis=1),
        memory_noise=np.array([TINY.memory_noise_generate], np.float32),
    ).in_graph_order()
    for graph, args in checks.items():
        figures = parity(_torch(graph, *args), _run(sessions[graph], graph, *args))
        assert figures["max_abs"] <= FP32_MAX_ABS and figures["max_rel"] <= FP32_MAX_REL, (
            graph,
            figures,
        )


def test_manifest_records_what_was_exported(checkpoint: Path):
    folder = checkpoint / "onnx"
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["format"] == "gapfill-malt-onnx"
    assert manifest["checkpoint"]["sha256"] == file_sha256(checkpoint / WEIGHTS_NAME)
    assert manifest["opset"] == 18
    c, f, h, w = TINY.latent_shape
    shapes = manifest["shapes"]
    assert shapes["denoise"]["inputs"]["memory"] == ["batch", *TINY.memory_shape]
    assert shapes["update_memory"]["outputs"]["memory_next"] == ["batch", *TINY.memory_shape]
    assert shapes["encode"]["inputs"]["frames"] == ["batch", 3, "16*segments", 32, 48]
    assert shapes["decode"]["inputs"]["z"] == ["batch", c, f"{f}*segments", h, w]
    assert manifest["initial_memory"]["shape"] == list(TINY.memory_shape)
    assert set(manifest["variants"]) == {"fp32", "fp16", "int8"}
    for precision, variant in manifest["variants"].items():
        assert set(variant["graphs"]) == set(GRAPH_NAMES)
        for entry in variant["graphs"].values():
            assert file_sha256(folder / entry["file"]) == entry["sha256"]
            assert 0 <= entry["parity"]["max_rel"] <= PARITY_BOUNDS[precision]
            assert entry["parity"]["max_abs"] >= 0
    # Self-contained files, nothing half-written left beside the output.
    assert not list(folder.glob("*.data")) and not list(checkpoint.glob(".*.tmp"))


def test_exported_graphs_have_named_io_and_dynamic_axes(sessions):
    for graph, session in sessions.items():
        inputs = session.get_inputs()
        assert [i.name for i in inputs] == list(GRAPH_INPUTS[graph])
        assert [o.name for o in session.get_outputs()] == [GRAPH_OUTPUTS[graph]]
        assert all(isinstance(i.shape[0], str) for i in inputs)  # batch
    assert isinstance(sessions["encode"].get_inputs()[0].shape[2], str)  # frames
    assert isinstance(sessions["decode"].get_inputs()[0].shape[2], str)  # latent frames
    memory = sessions["update_memory"].get_inputs()[0].shape
    assert memory[1:] == list(TINY.memory_shape)  # the memory itself is fixed-size


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_variants_load_and_run(checkpoint: Path, precision: str):
    from gapfill.runtime.onnx_backend import OnnxBackend

    backend = OnnxBackend(checkpoint / "onnx", device="cpu", precision=precision)
    rng = np.random.default_rng(1)
    for graph in GRAPH_NAMES:
        args = random_inputs(TINY, graph, rng, batch=1)
        out = call_graph(backend, graph, args)
        figures = parity(_torch(graph, *args), out)
        assert out.dtype == np.float32 and figures["max_rel"] <= PARITY_BOUNDS[precision], figures


def test_cli_exports_end_to_end(checkpoint: Path):
    """`gapfill export onnx CKPT --fp16 --int8` made the shared export (malt_export.py)."""
    lines = cli_output().strip().splitlines()
    out = checkpoint / "onnx"  # the default output folder
    assert [line.split(":")[0] for line in lines] == [str(out)] * 3
    assert [line.split()[1] for line in lines] == ["fp32", "fp16", "int8"]
    variants = json.loads((out / MANIFEST_NAME).read_text())["variants"]
    assert all((out / graph_file(g, p)).is_file() for g in GRAPH_NAMES for p in variants)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "onnx", "{missing}"], "checkpoint folder not found"),
        (["export", "onnx", "{checkpoint}", "--opset", "11"], "--opset: 11 is outside"),
        # The input is checked before the host: a typo is not reported as a missing TensorRT.
        (["export", "tensorrt", "{missing}"], "{missing}: export folder not found"),
        (
            ["export", "tensorrt", "{checkpoint}/onnx", "-o", "{file}/engines"],
            "{file}/engines: cannot create this folder, {file} is not a folder",
        ),
        (["export", "tensorrt", "{checkpoint}/onnx"], "TensorRT is not installed"),
        (
            ["export", "onnx", "{checkpoint}", "-o", "{file}/onnx"],
            "{file}/onnx: cannot create this folder, {file} is not a folder",
        ),
        (
            ["export", "onnx", "{checkpoint}", "-o", "{full}"],
            "{full}: folder is not empty and holds no gapfill-malt-onnx export",
        ),
    ],
)
def test_cli_refusals_are_one_line(checkpoint, tmp_path, capsys, args, message):
    from gapfill.cli import main

    if "TensorRT" in message and importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here: the missing-TensorRT refusal cannot happen")
    names = {
        "missing": tmp_path / "absent",
        "checkpoint": checkpoint,
        "file": tmp_path / "file",
        "full": tmp_path / "full",  # someone's folder: a name the export also writes, and more
    }
    names["file"].write_text("not a folder")
    names["full"].mkdir()
    for name in ("config.json", "notes.txt"):
        (names["full"] / name).write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(**names) for a in args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(**names) in err[0], err
    assert names["file"].read_text() == "not a folder" and not list(tmp_path.glob(".*.tmp"))
    assert {p.name: p.read_text() for p in names["full"].iterdir()} == {
        "config.json": "mine",
        "notes.txt": "mine",
    }


def test_export_refuses_corrupt_weights_naming_the_file(checkpoint: Path, tmp_path: Path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", WEIGHTS_NAME):
        (corrupt / name).write_bytes((checkpoint / name).read_bytes())
    (corrupt / WEIGHTS_NAME).write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match=f"{WEIGHTS_NAME}: corrupt"):
        export_onnx(corrupt, tmp_path / "out")
    (corrupt / WEIGHTS_NAME).unlink()
    with pytest.raises(UserError, match=f"{WEIGHTS_NAME}: not found"):
        export_onnx(corrupt, tmp_path / "out")


def test_failed_export_leaves_the_old_export_untouched(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import exporters.onnx as onnx_exporter

    out = tmp_path / "export"
    out.mkdir()
    old = {"format": ONNX_FORMAT, "format_version": EXPORT_FORMAT_VERSION, "old": True}
    (out / MANIFEST_NAME).write_text(json.dumps(old))

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnx_exporter, "_export_graph", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_onnx(checkpoint, out)
    assert json.loads((out / MANIFEST_NAME).read_text()) == old
    assert not list(tmp_path.glob(".export.*"))  # no staging folder left
