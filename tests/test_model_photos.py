"""Photo scenes (gapfill.training.photos) and the training runs that use them, through the CLI."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gapfill.cli import main
from gapfill.network.config import WEIGHTS_NAME
from gapfill.training.photos import load_photos, render_photo_window

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return load_photos()


def test_the_photo_library_is_real_colour_footage_material(photos: list[np.ndarray]) -> None:
    assert len(photos) >= 10
    for photo in photos:
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert min(photo.shape[:2]) >= 128
    # Most are colour photographs, not grey textures.
    colour = [p for p in photos if np.abs(np.diff(p.astype(np.int16), axis=2)).mean() > 5]
    assert len(colour) >= 7


def test_a_window_is_a_function_of_its_random_stream(photos: list[np.ndarray]) -> None:
    first = render_photo_window(np.random.default_rng(3), photos, 12, 48, 64)
    again = render_photo_window(np.random.default_rng(3), photos, 12, 48, 64)
    other = render_photo_window(np.random.default_rng(4), photos, 12, 48, 64)
    assert first.shape == (12, 48, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_scenes_move_like_a_mostly_fixed_camera(photos: list[np.ndarray]) -> None:
    """Frames change from one to the next (objects, light, noise) but a scene stays the same
    scene: neighbouring frames are far closer to each other than frames of different scenes."""
    rng = np.random.default_rng(0)
    windows = [render_photo_window(rng, photos, 16, 96, 128).astype(np.float32) for _ in range(24)]
    within = [np.abs(np.diff(w, axis=0)).mean() for w in windows]
    between = [np.abs(a[0] - b[0]).mean() for a, b in itertools.pairwise(windows)]
    assert np.median(within) < 0.25 * np.median(between)
    # Some scenes have real motion (objects, pans), not only noise.
    moving = [np.abs(w[-1] - w[0]).mean() - np.abs(w[1] - w[0]).mean() for w in windows]
    assert sum(m > 2.0 for m in moving) >= 4


def _train(*args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--tiny", "--threads", "1", "--checkpoint-every", "2", *args])
    assert exit_info.value.code == 0


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / WEIGHTS_NAME))


def test_stage1_fine_tunes_a_checkpoints_autoencoder_on_photo_scenes(tmp_path: Path) -> None:
    """`gapfill train --stage 1 --init CKPT --photos` changes the autoencoder and nothing else."""
    parent = tmp_path / "parent"
    _train("--out", str(parent), "--stage", "1", "--steps", "2", "--photos")
    _train(
        "--out", str(parent), "--stage", "2", "--steps", "2", "--photos", "--synth-seeds", "none"
    )
    child = tmp_path / "child"
    init = ("--init", str(parent / "export"))
    _train(
        "--out",
        str(child),
        "--stage",
        "1",
        "--steps",
        "2",
        "--photos",
        "--synth-seeds",
        "none",
        *init,
    )
    before, after = _weights(parent / "export"), _weights(child / "export")
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith("autoencoder.") for name in changed)
    saved = torch.load(child / "stage1.pt", map_location="cpu", weights_only=False)
    assert saved["options"]["photos"] == "True"
    assert saved["options"]["init"] == str(parent / "export")


def test_photos_are_refused_for_camera_fine_tuning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--finetune", "--camera", "press-1", "--photos", "--steps", "1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--photos: not with --finetune" in err[0], err
