"""What a plant engineer checks first in a reconstruction: the machine keeps moving through it.

`gapfill fill` with the shipped checkpoint, on an encoded simulated press camera, a 24-frame span
cut out of the middle: inside the moving parts (where the real frames differ from the still
background) the fill must be far closer to what the camera saw than the background plate, which
is what a fill that stops the machine shows.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from cli_run import succeeds

from gapfill.fill.baselines import background_plate, median_plate
from gapfill.fill.metrics import luma, psnr
from gapfill.media.encode import VideoWriter
from gapfill.synth.scene import Scene

WIDTH, HEIGHT, FPS = 320, 180, 10.0
SPAN = (64, 88)  # frames cut out: 2.4 s, a belt, a wheel and lamps in view
MOVING = 20.0  # grey levels from the still background: a moving part (metrics.moving_psnr)


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _moving_psnr(fill: np.ndarray, truth: np.ndarray, plate: np.ndarray) -> float:
    moving = np.abs(luma(truth) - luma(plate)[None]) > MOVING
    error = (luma(fill) - luma(truth))[moving]
    return float(10 * np.log10(255.0**2 / np.mean(error**2)))


@pytest.mark.timeout(300)
def test_gapfill_fill_keeps_the_machine_moving(tmp_path: Path, capsys) -> None:
    source = tmp_path / "press.mp4"
    scene = Scene(2_000_100, width=WIDTH, height=HEIGHT, fps=FPS)  # a seed no training used
    with VideoWriter(source, width=WIDTH, height=HEIGHT, fps=FPS, gop=10, crf=12) as writer:
        for k, rgb in enumerate(scene.render(0, 152)):
            writer.write(rgb, pts=k * 9000)
    real = _decode(source)  # the truth as the camera's encoder kept it

    out = tmp_path / "filled.mp4"
    succeeds(capsys, "fill", str(source), "-o", str(out), "--span", f"{SPAN[0]}:{SPAN[1]}")
    filled = _decode(out)
    assert filled.shape == real.shape

    start, end = SPAN
    before, truth, after = real[start - 32 : start], real[start:end], real[end : end + 32]
    plate = median_plate(before, after).astype(np.float32)
    ours = _moving_psnr(filled[start:end], truth, plate)
    still = _moving_psnr(background_plate(before, after, end - start, FPS), truth, plate)
    assert ours > still + 3.0, (ours, still)
    # The real frames around the span come through (re-encoded, so not bit for bit).
    assert psnr(filled[:start], real[:start]) > 35
