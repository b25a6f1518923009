"""`fill_gap` and `gapfill fill`: shapes, determinism, bad input, the shipped checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from gapfill.errors import UserError
from gapfill.fill.fill_file import fill_file
from gapfill.fill.fill_gap import fill_gap
from gapfill.media.encode import VideoWriter
from gapfill.network.config import WEIGHTS_NAME, default_checkpoint_dir
from gapfill.synth.scene import Scene

torch.set_num_threads(1)
SOURCE_H, SOURCE_W = 48, 80  # not the tiny working size (32x48): fill_gap resizes both ways


@pytest.fixture(scope="module")
def footage() -> np.ndarray:
    return Scene(11, width=SOURCE_W, height=SOURCE_H, fps=10.0).render(0, 80)


def test_fill_gap_returns_frames_at_the_input_size(tiny_checkpoint: Path, footage: np.ndarray):
    before, after = footage[:40], footage[45:]
    filled = fill_gap(before, after, 5, 10.0, model=tiny_checkpoint, seed=1, check_change=False)
    assert filled.shape == (5, SOURCE_H, SOURCE_W, 3) and filled.dtype == np.uint8
    again = fill_gap(before, after, 5, 10.0, model=tiny_checkpoint, seed=1, check_change=False)
    assert np.array_equal(filled, again)


def test_fill_gap_with_one_side_only(tiny_checkpoint: Path, footage: np.ndarray):
    forward = fill_gap(
        footage[:20], footage[:0], 17, 10.0, model=tiny_checkpoint, check_change=False
    )
    backward = fill_gap(
        footage[:0], footage[20:], 3, 10.0, model=tiny_checkpoint, check_change=False
    )
    assert forward.shape == (17, SOURCE_H, SOURCE_W, 3)
    assert backward.shape == (3, SOURCE_H, SOURCE_W, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b, a, n: (b.astype(np.float32), a, n), "before: expected uint8"),
        (lambda b, a, n: (b, a[..., 0], n), "after: expected shape"),
        (lambda b, a, n: (b, a[:, :-2], n), "frame sizes differ"),
        (lambda b, a, n: (b[:0], a[:0], n), "both are empty"),
        (lambda b, a, n: (b, a, 0), "n_missing: must be a positive integer"),
        (lambda b, a, n: (b, a, -3), "n_missing: must be a positive integer"),
        (lambda b, a, n: (b, a, 10**9), "over the .* budget"),
    ],
)
def test_fill_gap_rejects_bad_input(tiny_checkpoint: Path, footage: np.ndarray, change, message):
    before, after, n = change(footage[:10], footage[12:20], 2)
    with pytest.raises(UserError, match=message):
        fill_gap(before, after, n, 10.0, model=tiny_checkpoint)


def test_fill_gap_rejects_bad_fps_and_checkpoints(
    tiny_checkpoint: Path, footage: np.ndarray, tmp_path
):
    with pytest.raises(UserError, match="fps"):
        fill_gap(footage[:10], footage[12:], 2, 0.0, model=tiny_checkpoint)
    with pytest.raises(UserError, match="not found"):
        fill_gap(footage[:10], footage[12:], 2, 10.0, model=tmp_path / "nowhere")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for item in tiny_checkpoint.iterdir():
        (corrupt / item.name).write_bytes(item.read_bytes())
    (corrupt / WEIGHTS_NAME).write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="corrupt"):
        fill_gap(footage[:10], footage[12:], 2, 10.0, model=corrupt)


def test_default_checkpoint_loads_and_fills_a_span(footage: np.ndarray):
    assert (default_checkpoint_dir() / WEIGHTS_NAME).is_file(), "the shipped checkpoint is missing"
    filled = fill_gap(footage[:32], footage[36:], 4, 10.0)
    assert filled.shape == (4, SOURCE_H, SOURCE_W, 3)
    # A model that works stays near the real frames on a simulated fixed camera.
    error = np.abs(filled.astype(np.float32) - footage[32:36].astype(np.float32)).mean()
    assert error < 40


def test_importing_gapfill_fill_does_not_import_torch():
    code = "import sys, gapfill.fill.fill_gap; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _write_video(path: Path, frames: np.ndarray, skip: range) -> None:
    with VideoWriter(path, width=SOURCE_W, height=SOURCE_H, fps=10.0, gop=10, crf=10) as writer:
        for k, rgb in enumerate(frames):
            if k not in skip:
                writer.write(rgb, pts=k * 9000)


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_fill_file_fills_timeline_holes(tiny_checkpoint: Path, footage: np.ndarray, tmp_path):
    source = tmp_path / "holed.mp4"
    _write_video(source, footage[:30], skip=range(10, 15))
    assert _frame_count(source) == 25
    report = fill_file(source, tmp_path / "filled.mp4", [], model=tiny_checkpoint)
    assert report.holes == ((10, 15),) and report.filled == 5
    # 10 real frames before the hole: too few to check the model's change, so the guess alone.
    assert report.model_changes == ("no-check-context",)
    assert _frame_count(tmp_path / "filled.mp4") == 30


def test_fill_file_spans_and_refusals(tiny_checkpoint: Path, footage: np.ndarray, tmp_path):
    source = tmp_path / "clip.mp4"
    _write_video(source, footage[:30], skip=range(0))
    report = fill_file(source, tmp_path / "out.mp4", ["3:5", "20:26"], model=tiny_checkpoint)
    assert report.filled == 8 and _frame_count(tmp_path / "out.mp4") == 30
    with pytest.raises(UserError, match="outside the timeline"):
        fill_file(source, tmp_path / "bad.mp4", ["25:40"], model=tiny_checkpoint)
    with pytest.raises(UserError, match="START:END"):
        fill_file(source, tmp_path / "bad.mp4", ["x"], model=tiny_checkpoint)
    with pytest.raises(UserError, match="ends before it starts"):
        fill_file(source, tmp_path / "bad.mp4", ["9:4"], model=tiny_checkpoint)
    with pytest.raises(UserError, match=r"ending in \.mp4"):
        fill_file(source, tmp_path / "bad.txt", ["3:5"], model=tiny_checkpoint)
    with pytest.raises(UserError, match="overwrite the input"):
        fill_file(source, source, ["3:5"], model=tiny_checkpoint)
    with pytest.raises(UserError, match="no such file"):
        fill_file(tmp_path / "absent.mp4", tmp_path / "o.mp4", [], model=tiny_checkpoint)
    assert not (tmp_path / "bad.mp4").exists() and not (tmp_path / "bad.txt").exists()


def test_spans_and_timeline_holes_are_filled_together(
    tiny_checkpoint: Path, footage: np.ndarray, tmp_path: Path
) -> None:
    """A timeline hole outside the spans is filled too (no black frames), and ranges that overlap
    or touch are one hole: each frame is predicted once, from the real frames around it all."""
    source = tmp_path / "clip.mp4"
    _write_video(source, footage[:30], skip=range(20, 24))
    report = fill_file(
        source, tmp_path / "out.mp4", ["12:16", "4:8", "6:10", "10:11"], model=tiny_checkpoint
    )
    assert report.holes == ((4, 11), (12, 16), (20, 24)) and report.filled == 15
    with av.open(str(tmp_path / "out.mp4")) as container:
        written = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(written) == 30 and min(frame.mean() for frame in written[20:24]) > 20  # not black
