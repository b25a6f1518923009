"""Inference backends: a whole fill through ONNX Runtime vs torch, providers, select_backend."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from malt_export import TINY, psnr, tiny_checkpoint

from gapfill.errors import UserError
from gapfill.fill.fill_gap import fill_gap
from gapfill.network.config import WEIGHTS_NAME
from gapfill.runtime import select_backend
from gapfill.runtime.manifest import MANIFEST_NAME
from gapfill.runtime.onnx_backend import OnnxBackend
from gapfill.runtime.torch_backend import TorchBackend

torch.set_num_threads(1)
MIN_PSNR_DB = 40.0

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this host")
needs_tensorrt = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None, reason="tensorrt is not installed"
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    # Source frames larger than the working size (32x48): fill_gap resizes down and composes up.
    from gapfill.synth.scene import Scene

    return Scene(11, width=80, height=48, fps=10.0).render(0, 100)


def model_fill(clip: np.ndarray, model, **kwargs) -> np.ndarray:
    """A 20-frame hole (two segments, memory carried between them) under seed 5, with the model's
    change always kept: backends are compared on what the model computes, not on the context
    check's verdict (gapfill/fill/context_check.py)."""
    before, after = clip[:48], clip[68:]
    return fill_gap(before, after, 20, 10.0, model=model, seed=5, check_change=False, **kwargs)


def test_fill_gap_through_onnx_matches_torch(checkpoint: Path, clip: np.ndarray):
    eager = model_fill(clip, checkpoint, backend="torch", device="cpu")
    onnx = model_fill(clip, checkpoint, backend="onnx", device="cpu")
    assert onnx.shape == eager.shape == (20, 48, 80, 3)
    assert psnr(eager, onnx) >= MIN_PSNR_DB


def test_onnx_backend_objects_work_as_fill_gap_models(checkpoint: Path, clip: np.ndarray):
    backend = OnnxBackend(checkpoint / "onnx", device="cpu")
    first = fill_gap(
        clip[:20], clip[:0], 17, 10.0, model=backend, seed=1, check_change=False
    )  # no anchor
    again = fill_gap(clip[:20], clip[:0], 17, 10.0, model=backend, seed=1, check_change=False)
    assert first.shape == (17, 48, 80, 3) and np.array_equal(first, again)


def test_onnx_backend_reports_its_provider_and_reuses_sessions(checkpoint: Path):
    backend = OnnxBackend(checkpoint / "onnx", device="cpu")
    assert backend.name == "onnx" and backend.provider == "CPUExecutionProvider"
    assert backend.providers == ["CPUExecutionProvider"]
    sessions = dict(backend.sessions)
    memory = backend.initial_memory(2)
    assert memory.shape == (2, *TINY.memory_shape)
    eager = TorchBackend(torch_model(checkpoint))
    assert np.array_equal(memory, eager.initial_memory(2))  # the initial memory is exported too
    z = np.random.default_rng(0).standard_normal((2, *TINY.latent_shape), dtype=np.float32)
    assert backend.update_memory(memory, z).shape == memory.shape
    assert backend.sessions == sessions  # created once, not per call


def torch_model(checkpoint: Path):
    from gapfill.network.checkpoint import load_model

    return load_model(checkpoint)


def test_select_backend_auto_prefers_a_matching_export(
    checkpoint: Path, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="gapfill.runtime"):
        backend = select_backend("auto", checkpoint, device="cpu")
    assert backend.name == "onnx"
    assert "backend: onnx (CPUExecutionProvider)" in caplog.text
    assert select_backend("auto", checkpoint / "onnx", device="cpu").name == "onnx"
    assert select_backend("torch", checkpoint, device="cpu").name == "torch"


def test_select_backend_auto_falls_back_to_torch(checkpoint: Path, tmp_path: Path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", WEIGHTS_NAME):
        shutil.copy(checkpoint / name, bare / name)
    assert select_backend("auto", bare, device="cpu").name == "torch"
    with pytest.raises(UserError, match="no ONNX export here or beside it"):
        select_backend("onnx", bare)


def test_a_stale_export_is_skipped_by_auto_and_refused_by_name(
    checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    other = tmp_path / "retrained"
    shutil.copytree(checkpoint, other)
    weights = other / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # other weights, same shapes: the export no longer belongs to them
    weights.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gapfill.runtime"):
        assert select_backend("auto", other, device="cpu").name == "torch"
    assert "exported from other weights" in caplog.text
    with pytest.raises(UserError, match="stale ONNX export"):
        select_backend("onnx", other)


def test_bad_folders_and_kinds_are_one_line_user_errors(checkpoint: Path, tmp_path: Path):
    with pytest.raises(UserError, match="folder not found"):
        select_backend("auto", tmp_path / "absent")
    with pytest.raises(UserError, match="--backend: 'fast'"):
        select_backend("fast", checkpoint)
    with pytest.raises(UserError, match="the torch backend needs the checkpoint folder"):
        select_backend("torch", checkpoint / "onnx")
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint / "onnx", broken)
    (broken / "denoise.onnx").write_bytes(b"not a graph")
    with pytest.raises(UserError, match=r"denoise\.onnx: does not match its manifest sha256"):
        OnnxBackend(broken)
    manifest = json.loads((broken / MANIFEST_NAME).read_text())
    manifest["variants"].pop("int8")
    (broken / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="no int8 graphs in this export"):
        OnnxBackend(broken, precision="int8")
    (broken / MANIFEST_NAME).unlink()
    with pytest.raises(UserError, match=r"manifest\.json: export manifest not found"):
        OnnxBackend(broken)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here"
)
def test_tensorrt_by_name_says_it_is_not_installed(checkpoint: Path):
    with pytest.raises(UserError, match=r"^TensorRT is not installed"):
        select_backend("tensorrt", checkpoint)


def test_importing_the_runtime_and_onnx_backend_does_not_import_torch():
    code = (
        "import sys, gapfill.runtime, gapfill.runtime.onnx_backend, gapfill.fill.fill_gap; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
@needs_cuda
def test_onnx_on_cuda_matches_torch(checkpoint: Path, clip: np.ndarray):
    backend = OnnxBackend(checkpoint / "onnx", device="cuda")
    if backend.provider != "CUDAExecutionProvider":
        pytest.skip(f"onnxruntime fell back to {backend.provider}")
    eager = model_fill(clip, checkpoint, backend="torch")
    assert psnr(eager, model_fill(clip, backend)) >= 40


@pytest.mark.gpu
@needs_cuda
@needs_tensorrt
def test_tensorrt_engines_fill_like_torch(checkpoint: Path, clip: np.ndarray, tmp_path: Path):
    from exporters.tensorrt import build_engines

    build_engines(checkpoint / "onnx", tmp_path / "engines")
    backend = select_backend("tensorrt", tmp_path / "engines")
    assert backend.name == "tensorrt"
    eager = model_fill(clip, checkpoint, backend="torch")
    # fp16 engines: looser than fp32 ONNX, still far below visible differences.
    assert psnr(eager, model_fill(clip, backend)) >= 30


def test_gapfill_fill_takes_the_backend_option(
    checkpoint: Path, clip: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from gapfill.cli import main
    from gapfill.media.encode import VideoWriter

    source = tmp_path / "clip.mp4"
    with VideoWriter(source, width=80, height=48, fps=10.0, gop=10, crf=10) as writer:
        for k, rgb in enumerate(clip[:30]):
            writer.write(rgb, pts=k * 9000)
    args = ["fill", str(source), "-o", str(tmp_path / "out.mp4"), "--model", str(checkpoint)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--span", "10:14", "--backend", "onnx"])
    assert exit_info.value.code == 0
    assert "4 predicted (onnx)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--backend", "fastest"])
    assert exit_info.value.code == 1
    assert "--backend: 'fastest' is not one of" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_the_segment_loop_hands_free_heap_back(
    checkpoint: Path, clip: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every generated segment the loop gives free heap pages back, so a long fill's heap
    does not fragment and grow (gapfill/fill/allocator.py; benchmarks/long_horizon.py measures
    the effect)."""
    from gapfill.fill import allocator, generate

    calls = []
    monkeypatch.setattr(generate, "release_free_heap", lambda: calls.append(1) or True)
    fill_gap(
        clip[:32], clip[:0], 40, 10.0, model=checkpoint, backend="torch", seed=0, check_change=False
    )
    assert len(calls) == 3  # 40 frames: three 16-frame segments
    assert allocator.release_free_heap() is True
