"""Shared by test_export.py and test_runtime.py: a tiny checkpoint and its ONNX export, made once.

Exporting costs seconds, so it is done once (a module-level cache: a fixture imported into two
test modules would otherwise run twice). The random-initialised tiny MALT has its zero-initialised
output layers perturbed, so that the denoiser's output is not identically zero and the parity
checks compare real arithmetic.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gapfill.network.checkpoint import save_model
from gapfill.network.config import MaltConfig
from gapfill.network.malt import Malt
from gapfill.synth.scene import Scene

TINY = MaltConfig.tiny()
_built: dict[str, Path] = {}
_cli_output: list[str] = []


def tiny_model(seed: int = 0) -> Malt:
    torch.manual_seed(seed)
    model = Malt(TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def tiny_checkpoint(factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint folder with its export (fp32, fp16, int8) in <checkpoint>/onnx.

    The export is made through the CLI (`gapfill export onnx`), so that the end-to-end command
    is exercised by the same export every other test reads; its stdout is kept for the test
    that checks it (`cli_output`).
    """
    if "checkpoint" not in _built:
        from gapfill.cli import main

        folder = factory.mktemp("malt_tiny")
        save_model(tiny_model(), folder)
        stdout = io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            # Module-scoped callers run before conftest's per-test isolation: isolate here too.
            for name in [n for n in os.environ if n.startswith("GAPFILL_")]:
                patch.delenv(name)
            patch.chdir(folder.parent)
            patch.setenv("GAPFILL_DATA_DIR", str(folder.parent / "data"))
            with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit_info:
                main(["export", "onnx", str(folder), "--fp16", "--int8"])
        _cli_output.append(stdout.getvalue())
        assert exit_info.value.code == 0, stdout.getvalue()
        _built["checkpoint"] = folder
    return _built["checkpoint"]


def cli_output() -> str:
    """What `gapfill export onnx` printed when tiny_checkpoint made the export."""
    return _cli_output[0]


def footage(frames: int, seed: int = 3) -> np.ndarray:
    """Simulated fixed-camera footage at the tiny working size: (T, H, W, 3) uint8."""
    return Scene(seed, width=TINY.width, height=TINY.height, fps=10.0).render(0, frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
