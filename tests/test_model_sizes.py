"""Model sizes other than the shipped ones: `gapfill train --config`, and the 4x autoencoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gapfill.cli import main
from gapfill.fill.generate import fill_working
from gapfill.network.checkpoint import load_model
from gapfill.network.config import MaltConfig
from gapfill.runtime.torch_backend import TorchBackend

torch.set_num_threads(1)
# The tiny model with a 4x autoencoder: 8 x 12 latent frames, 2 x 3 tokens of 4 x 4 latent pixels.
TINY_4X = replace(MaltConfig.tiny(), space_down=4, patch_size=4)


def test_the_4x_autoencoder_keeps_four_times_the_latent() -> None:
    from gapfill.network.malt import Malt

    model = Malt(TINY_4X).eval()
    frames = torch.rand(2, 3, 16, TINY_4X.height, TINY_4X.width) * 2 - 1
    with torch.no_grad():
        z = model.autoencoder.encode(frames)
        assert z.shape == (2, TINY_4X.latent_channels, 4, 8, 12) == (2, *TINY_4X.latent_shape)
        assert model.autoencoder.decode(z).shape == frames.shape
    assert TINY_4X.tokens_per_frame == MaltConfig.tiny().tokens_per_frame


def test_space_down_must_be_4_or_8() -> None:
    with pytest.raises(ValueError, match="space_down must be 4 or 8"):
        replace(MaltConfig.tiny(), space_down=2)


def _train(*args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--threads", "1", "--checkpoint-every", "2", "--steps", "2", *args])
    assert exit_info.value.code == 0


def test_both_stages_train_a_model_of_the_given_sizes(tmp_path: Path) -> None:
    config_file = tmp_path / "sizes.json"
    config_file.write_text(TINY_4X.to_json(), encoding="utf-8")
    out = tmp_path / "run"
    _train("--out", str(out), "--stage", "1", "--config", str(config_file))
    _train("--out", str(out), "--stage", "2", "--config", str(config_file))
    model = load_model(out / "export")
    assert model.config.space_down == 4 and model.config.latent_scale != 1.0  # measured
    scene = np.random.default_rng(0).integers(0, 256, (20, 32, 48, 3), dtype=np.uint8)
    filled = fill_working(TorchBackend(model), scene[:16], scene[-4:], 4, seed=0)
    assert filled.shape == (4, 32, 48, 3) and filled.dtype == np.uint8


def test_stage2_refuses_an_autoencoder_of_other_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "sizes.json"
    config_file.write_text(TINY_4X.to_json(), encoding="utf-8")
    out = tmp_path / "run"
    _train("--out", str(out), "--stage", "1", "--config", str(config_file))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(out), "--stage", "2", "--tiny", "--steps", "1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give stage 2 the same --config as stage 1" in err[0], err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tiny",), "--config: not with --tiny or --init"),
        (("--init", "gapfill/network/default"), "--config: not with --tiny or --init"),
        (("--finetune", "--camera", "press-01"), "--config: not with --finetune"),
    ],
)
def test_config_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    config_file = tmp_path / "sizes.json"
    config_file.write_text(TINY_4X.to_json(), encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), "--config", str(config_file), *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_config_file_that_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sizes.json"
    bad.write_text('{"space_down": 4}', encoding="utf-8")  # no format_version: not a config.json
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), "--config", str(bad)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "format version" in err and "\n" not in err


def test_a_4x_model_exports_to_onnx_and_matches_pytorch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gapfill.network.checkpoint import save_model
    from gapfill.network.malt import Malt

    torch.manual_seed(0)
    save_model(Malt(TINY_4X), tmp_path / "model")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "onnx", str(tmp_path / "model"), "-o", str(tmp_path / "onnx")])
    assert exit_info.value.code == 0
    assert "worst relative error vs PyTorch" in capsys.readouterr().out
    assert {"encode.onnx", "decode.onnx", "denoise.onnx"} <= {
        p.name for p in (tmp_path / "onnx").iterdir()
    }
