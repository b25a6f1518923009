"""Slow: the default model's training recipe, run the way an operator runs it for hours.

`scripts/train_default_model.sh` trains both stages on simulated cameras, photo scenes and the
bikes.mp4 training clip. Here it runs at the tiny size for a few hundred steps, is killed with
SIGKILL in the middle of stage 2 (a power cut, an OOM kill), and is started again: it must go on
from its last checkpoint and end with exactly the weights of a run that was never interrupted.
Excluded from the default run (`pytest -m slow` runs it); the fast suite trains the tiny model
through the same code for a few steps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from gapfill.fill.fill_gap import fill_gap
from gapfill.network.checkpoint import load_model
from gapfill.network.config import WEIGHTS_NAME
from gapfill.synth.scene import Scene

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "train_default_model.sh"
STEPS = {"STAGE1_STEPS": "500", "STAGE2_STEPS": "500", "CURRICULUM": "0:2,250:4"}
KILL_AFTER = "checkpoint: step 250 -> "  # stage 2's checkpoint in the middle of the run


def _recipe(out: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **STEPS,
        "THREADS": "1",
        "GAPFILL": str(Path(sys.executable).parent / "gapfill"),
    }
    return subprocess.Popen(
        ["bash", str(SCRIPT), str(out), "--tiny"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill takes gapfill with it
    )


def _finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=1200)
    assert process.returncode == 0, stderr[-2000:]


def _kill_in_stage2(process: subprocess.Popen[str], out: Path) -> None:
    """SIGKILL the run a moment after stage 2 logged its mid-run checkpoint."""
    log = out / "train.log"
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline and process.poll() is None:
        text = log.read_text() if log.is_file() else ""
        if "training stage 2" in text and KILL_AFTER in text.split("training stage 2")[-1]:
            time.sleep(1.5)  # some steps past the checkpoint: work that must be redone
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return
        time.sleep(0.2)
    pytest.fail(f"the run never reached stage 2's mid-run checkpoint (exit {process.poll()})")


def test_the_recipe_survives_a_kill_and_ends_with_the_uninterrupted_weights(
    tmp_path: Path,
) -> None:
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    _kill_in_stage2(_recipe(interrupted), interrupted)
    load_model(interrupted / "export")  # what the kill left is a whole checkpoint
    _finish(_recipe(interrupted))
    _finish(_recipe(straight))

    log = (interrupted / "train.log").read_text()
    assert "stage2.pt at step 250" in log and "stage 2 step 500" in log  # went on from 250
    a = load_file(str(interrupted / "export" / WEIGHTS_NAME))
    b = load_file(str(straight / "export" / WEIGHTS_NAME))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[name], b[name]) for name in a)

    # The trained checkpoint fills a hole in a camera it never saw, the same way twice.
    frames = Scene(2_000_000, width=96, height=64, fps=10.0).render(0, 40)
    first = fill_gap(
        frames[:16], frames[24:], 8, 10.0, model=interrupted / "export", seed=3, check_change=False
    )
    again = fill_gap(
        frames[:16], frames[24:], 8, 10.0, model=interrupted / "export", seed=3, check_change=False
    )
    assert first.shape == (8, 64, 96, 3) and np.array_equal(first, again)
