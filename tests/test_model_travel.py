"""Training that moves between machines: a wall-clock budget (`gapfill train --minutes`, a GPU
lease or a night's window) and stage 2 started on an autoencoder trained elsewhere
(`python -m gapfill.training.publish --autoencoder-only`, then `--autoencoder`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gapfill.cli import main
from gapfill.network.checkpoint import load_model, save_model
from gapfill.network.config import WEIGHTS_NAME, MaltConfig
from gapfill.network.malt import Malt
from gapfill.training.publish import publish_autoencoder

torch.set_num_threads(1)


def _train(*args: str | Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--tiny", "--threads", "1", *map(str, args)])
    assert exit_info.value.code == 0


def _step(out: Path, stage: int) -> int:
    return int(torch.load(out / f"stage{stage}.pt", weights_only=False)["step"])


def test_minutes_stop_training_with_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _train("--out", out, "--stage", "1", "--steps", "100000", "--minutes", "0.0001")
    stopped = _step(out, 1)
    assert 1 <= stopped < 100000
    assert load_model(out / "export").config.height == 32  # the export is whole and loads
    assert f"minutes are up at step {stopped}" in (out / "train.log").read_text()

    _train("--out", out, "--stage", "1", "--steps", str(stopped + 2), "--resume")
    assert _step(out, 1) == stopped + 2


def test_stage2_starts_on_an_autoencoder_published_alone(tmp_path: Path) -> None:
    stage1, alone, run = tmp_path / "stage1", tmp_path / "autoencoder", tmp_path / "run"
    _train("--out", stage1, "--stage", "1", "--steps", "2")
    parity = publish_autoencoder(stage1 / "export", alone)
    assert parity > 35
    weights = load_file(str(alone / WEIGHTS_NAME))
    assert weights and all(k.startswith("autoencoder.") for k in weights)
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())

    _train("--out", run, "--stage", "2", "--steps", "2", "--autoencoder", alone)
    trained = load_model(run / "export")
    assert trained.config.latent_scale != 1.0  # measured on the autoencoder it was given
    state = trained.state_dict()
    for name, value in weights.items():  # stage 2 keeps the autoencoder it started on
        assert torch.allclose(state[name], value.float(), atol=1e-6), name


def test_stage2_refuses_a_folder_without_an_autoencoder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = Malt(MaltConfig.tiny())
    denoiser_only = {k: v for k, v in model.state_dict().items() if k.startswith("denoiser.")}
    save_model(model, tmp_path / "no-autoencoder", state=denoiser_only)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--tiny", "--out", str(tmp_path / "run"), "--stage", "2", "--steps", "1",
              "--autoencoder", str(tmp_path / "no-autoencoder")])  # fmt: skip
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-autoencoder: holds no complete autoencoder" in err[0], err


def test_publishing_an_autoencoder_alone_needs_a_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gapfill.training import publish

    monkeypatch.setattr("sys.argv", ["publish", str(tmp_path), "--autoencoder-only"])
    with pytest.raises(SystemExit) as exit_info:
        publish.main()
    assert exit_info.value.code == 2
    assert "--autoencoder-only needs --dest" in capsys.readouterr().err
