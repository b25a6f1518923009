"""MALT end to end at the tiny configuration: training, determinism, memory, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gapfill.cli import main
from gapfill.errors import UserError
from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.generate import fill_working
from gapfill.network.checkpoint import load_model, save_model
from gapfill.network.config import CONFIG_NAME, WEIGHTS_NAME, MaltConfig
from gapfill.network.diffusion import add_noise, alpha_sigma, v_target
from gapfill.network.malt import Malt
from gapfill.runtime.torch_backend import TorchBackend
from gapfill.synth.scene import Scene
from gapfill.training.data import FootageSampler, StepFootage, StepFootageMaker
from gapfill.training.train import Trainer, run_training
from gapfill.training.train_options import TrainOptions

torch.set_num_threads(1)
TINY = MaltConfig.tiny()
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this host")
SEEDS = (100_000, 100_050)


class OneSceneSampler(FootageSampler):
    """Always the same simulated footage: a model that learns at all must fit it quickly."""

    def window(self, length: int) -> np.ndarray:
        return scene_frames(length, self.config, seed=5)


def _sampler_factory(config: MaltConfig, rng: np.random.Generator) -> FootageSampler:
    return OneSceneSampler(config, rng, synth_seeds=SEEDS)


def _options(out: Path, stage: int, steps: int, **extra) -> TrainOptions:
    defaults = dict(batch=2, lr=2e-3, warmup=1, checkpoint_every=1000, log_every=1000)
    return TrainOptions(out=out, stage=stage, steps=steps, **{**defaults, **extra})


def _losses(trainer: Trainer, steps: int) -> list[float]:
    """Run `steps` optimiser steps the way Trainer.train does and return each step's loss."""
    losses = []
    for _ in range(steps):
        loss, _ = trainer.stage1_step() if trainer.options.stage == 1 else trainer.stage2_step()
        trainer.optimise(loss)
        trainer.step += 1
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained through both stages with the real training code."""
    out = tmp_path_factory.mktemp("tiny_run")
    run_training(_options(out, 1, 12), TINY, SEEDS, [], resume=False)
    run_training(_options(out, 2, 8), TINY, SEEDS, [], resume=False)
    return out


def scene_frames(count: int, config: MaltConfig = TINY, seed: int = 7) -> np.ndarray:
    return Scene(seed, width=config.width, height=config.height, fps=10.0).render(0, count)


def test_autoencoder_loss_falls(tmp_path: Path) -> None:
    trainer = Trainer(_options(tmp_path, 1, 40, lr=3e-3), TINY, _sampler_factory)
    losses = _losses(trainer, 40)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_denoiser_loss_falls(tiny_run: Path, tmp_path: Path) -> None:
    (tmp_path / "stage1.pt").write_bytes((tiny_run / "stage1.pt").read_bytes())
    trainer = Trainer(_options(tmp_path, 2, 40, curriculum=((0, 2),)), TINY, _sampler_factory)
    trainer.start_stage2_from(tmp_path / "stage1.pt")
    losses = _losses(trainer, 40)
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10])


def test_training_exports_a_loadable_checkpoint(tiny_run: Path) -> None:
    config = json.loads((tiny_run / "export" / CONFIG_NAME).read_text())
    assert config["latent_scale"] != 1.0  # measured at the start of stage 2
    assert config["residual_scale"] > 1.0  # so is the change to the guess, smaller than a latent
    model = load_model(tiny_run / "export")
    assert model.config.latent_channels == TINY.latent_channels
    assert "stage 2 step 8" in (tiny_run / "train.log").read_text()
    assert "one-step miss" in (tiny_run / "train.log").read_text()


def test_one_step_miss_is_the_share_of_the_clean_sample_missed_near_pure_noise(
    tmp_path: Path,
) -> None:
    """The training log's one-step miss: 0 for a model that predicts the clean sample, 1 for one
    that predicts nothing, and blind to diffusion times the one-step sampler never uses."""
    trainer = Trainer(_options(tmp_path, 2, 1), TINY, _sampler_factory)
    z0 = torch.randn(4, 4, 4, 4, 6)
    t = torch.tensor([0.95, 0.5, 0.99, 0.2])
    noise = torch.randn(z0.shape)
    z_t = add_noise(z0, t, noise)
    alpha, sigma = alpha_sigma(t)
    predicts_nothing = (alpha / sigma).reshape(-1, 1, 1, 1, 1) * z_t  # predicted_z0 = 0
    predicts_nothing[[1, 3]] = 1e6  # times below SAMPLER_REGION do not count
    for v, share in ((v_target(z0, t, noise), 0.0), (predicts_nothing, 1.0)):
        trainer.one_step_miss.zero_()
        trainer._track_one_step_miss(z0, z_t, t, v)
        error, power = trainer.one_step_miss.tolist()
        assert error / power == pytest.approx(share, abs=1e-6)


def test_resumed_training_matches_uninterrupted(tmp_path: Path) -> None:
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run_training(_options(straight, 1, 6), TINY, SEEDS, [], resume=False)
    run_training(_options(interrupted, 1, 3), TINY, SEEDS, [], resume=False)
    run_training(_options(interrupted, 1, 6), TINY, SEEDS, [], resume=True)
    a = load_model(straight / "export").state_dict()
    b = load_model(interrupted / "export").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_footage_made_ahead_by_workers_trains_the_same_weights(tmp_path: Path) -> None:
    """Each step's footage comes from its own random stream, so worker processes making it ahead
    (what keeps a GPU fed) change nothing, through both stages and across a resume."""
    alone, helped = tmp_path / "alone", tmp_path / "helped"
    for out, workers in ((alone, 0), (helped, 2)):
        run_training(_options(out, 1, 4, workers=workers), TINY, SEEDS, [], resume=False)
        run_training(_options(out, 2, 2, workers=workers), TINY, SEEDS, [], resume=False)
        run_training(_options(out, 2, 4, workers=workers), TINY, SEEDS, [], resume=True)
    a = load_model(alone / "export").state_dict()
    b = load_model(helped / "export").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_data_echoing_makes_footage_once_per_echo_and_resumes_mid_batch(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--echo 3: six stage 2 steps train on two batches of footage, each encoded once; a run
    stopped inside a batch makes that batch again and ends with the same weights."""
    made: list[int] = []
    make = StepFootageMaker.__call__

    def counted(maker: StepFootageMaker, index: int, batch: int, unroll: int) -> StepFootage:
        if maker.seed == TrainOptions.seed:  # the run's stream, not residual_scale's measurement
            made.append(index)
        return make(maker, index, batch, unroll)

    monkeypatch.setattr(StepFootageMaker, "__call__", counted)
    runs = {name: tmp_path / name for name in ("straight", "interrupted", "no_echo")}
    for out in runs.values():
        out.mkdir()
        (out / "stage1.pt").write_bytes((tiny_run / "stage1.pt").read_bytes())

    def stage2(name: str, steps: int, echo: int, resume: bool = False) -> list[int]:
        made.clear()
        options = _options(runs[name], 2, steps, echo=echo, curriculum=((0, 2),))
        run_training(options, TINY, SEEDS, [], resume=resume)
        return list(made)

    assert stage2("straight", 6, echo=3) == [0, 1]
    assert stage2("interrupted", 4, echo=3) == [0, 1]
    assert stage2("interrupted", 6, echo=3, resume=True) == [1]
    assert stage2("no_echo", 6, echo=1) == [0, 1, 2, 3, 4, 5]
    weights = {name: load_model(out / "export").state_dict() for name, out in runs.items()}
    assert all(
        torch.equal(weights["straight"][k], weights["interrupted"][k]) for k in weights["straight"]
    )
    assert not all(
        torch.equal(weights["straight"][k], weights["no_echo"][k]) for k in weights["straight"]
    )


@needs_cuda
def test_training_on_cuda_follows_the_cpu_run_and_resumes(tmp_path: Path) -> None:
    """--device cuda: the footage and noise are drawn on the CPU as in a CPU run, so a few steps
    on the GPU land next to the CPU run's weights; a GPU run resumes, goes on to stage 2, and
    its export loads and fills on the CPU."""
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    run_training(_options(cpu, 1, 6), TINY, SEEDS, [], resume=False)
    run_training(_options(gpu, 1, 3, device="cuda"), TINY, SEEDS, [], resume=False)
    run_training(_options(gpu, 1, 6, device="cuda"), TINY, SEEDS, [], resume=True)
    torch.manual_seed(0)  # the Trainer's initial weights for seed 0
    start = Malt(TINY).state_dict()
    on_cpu, on_gpu = (
        load_model(cpu / "export").state_dict(),
        load_model(gpu / "export").state_dict(),
    )
    names = [k for k in start if k.startswith("autoencoder.") and start[k].is_floating_point()]
    moved = sum(float((on_cpu[k] - start[k]).norm()) for k in names)
    apart = sum(float((on_gpu[k] - on_cpu[k]).norm()) for k in names)
    assert apart < 0.1 * moved

    run_training(_options(gpu, 2, 4, device="cuda"), TINY, SEEDS, [], resume=False)
    backend = TorchBackend(load_model(gpu / "export"))
    frames = scene_frames(40)
    assert fill_working(backend, frames[:16], frames[24:], 8, seed=0).shape == (8, 32, 48, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(
            ("--device", "cuda"),
            "no CUDA GPU is usable",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this host has a GPU"),
        ),
        (("--device", "tpu"), "'tpu' is not one of auto, cpu, cuda"),
        (("--workers", "-1"), "--workers: must be 0 or more"),
        (("--echo", "0"), "--echo: must be 1 or more"),
        (("--minutes", "nan"), "--minutes: must be above 0"),
        (("--minutes", "0"), "--minutes: must be above 0"),
        (("--minutes", "1e9"), "--minutes: must be above 0 and at most"),
        (("--autoencoder", "gapfill/network/default"), "--autoencoder: only for stage 2"),
        (("--stage", "2", "--autoencoder", "nowhere"), "nowhere: checkpoint folder not found"),
    ],
)
def test_train_refuses_a_device_or_workers_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), "--tiny", "--steps", "1", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_generation_is_deterministic_under_a_seed(tiny_run: Path) -> None:
    model = load_model(tiny_run / "export")
    # Eight steps of training leave a change to the guess of under a grey level, which the seed
    # only moves in its noise; magnified, the sampled latent shows in the frames.
    model.config = replace(model.config, residual_scale=model.config.residual_scale / 100)
    backend = TorchBackend(model)
    frames = scene_frames(60)
    before, after = frames[:30], frames[50:]
    first = fill_working(backend, before, after, 20, seed=3)
    again = fill_working(backend, before, after, 20, seed=3)
    other = fill_working(backend, before, after, 20, seed=4)
    assert first.shape == (20, TINY.height, TINY.width, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_sampled_change_is_in_units_of_residual_scale(tiny_run: Path) -> None:
    """The denoiser samples the change to the first guess times residual_scale, and generation
    divides it back out: a smaller scale magnifies the change, and under an enormous one nothing
    of it is left and the fill is its guess."""
    model = load_model(tiny_run / "export")
    frames = scene_frames(60)
    before, after = frames[:30], frames[50:]
    guess, _ = MotionGuess(before, after, 20).frames(0, 20)  # what fill_working starts from

    def fill(residual_scale: float) -> np.ndarray:
        model.config = replace(model.config, residual_scale=residual_scale)
        return fill_working(TorchBackend(model), before, after, 20, seed=3)

    assert not np.array_equal(fill(model.config.residual_scale / 100), guess)
    np.testing.assert_array_equal(fill(1e9), guess)


def test_memory_keeps_its_size_and_scale_over_many_segments() -> None:
    torch.manual_seed(0)
    model = Malt(TINY).eval()
    memory = model.initial_memory(1)
    z = torch.randn(1, *TINY.latent_shape)
    with torch.no_grad():
        after_one = model.update_memory(memory, z)
        memory = after_one
        for _ in range(999):
            memory = model.update_memory(memory, torch.randn(1, *TINY.latent_shape))
    assert after_one.shape == memory.shape == (1, *TINY.memory_shape)
    assert torch.isfinite(memory).all()
    # LayerNorm at the end of every update: the scale cannot drift however long the chain.
    assert memory.abs().max() < 10 * after_one.abs().max()


def test_generation_without_anchor_or_context(tiny_run: Path) -> None:
    backend = TorchBackend(load_model(tiny_run / "export"))
    frames = scene_frames(40)
    forward = fill_working(backend, frames[:32], frames[:0], 5, seed=0)
    backward = fill_working(backend, frames[:0], frames[8:], 5, seed=0)
    assert forward.shape == backward.shape == (5, TINY.height, TINY.width, 3)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Malt(TINY).eval()
    save_model(model, tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    z = torch.randn(1, *TINY.latent_shape)
    with torch.no_grad():
        assert torch.equal(model.decode(z), loaded.decode(z))
    assert loaded.config == model.config


def test_a_checkpoint_from_before_residual_models_keeps_its_meaning(tmp_path: Path) -> None:
    """config.json files written before `residual` existed diffuse the latent itself, those
    written before `change_tau` keep all of the model's change, and those written before
    `residual_scale` diffused the change unscaled."""
    assert TINY.residual  # new models diffuse the change to their first guess
    save_model(Malt(TINY), tmp_path / "before")
    config = json.loads((tmp_path / "before" / CONFIG_NAME).read_text())
    del config["residual"], config["change_tau"], config["residual_scale"]
    (tmp_path / "before" / CONFIG_NAME).write_text(json.dumps(config))
    loaded = load_model(tmp_path / "before").config
    assert loaded.residual is False
    assert loaded.change_tau == 0.0
    assert loaded.residual_scale == 1.0  # the change was diffused unscaled

    config["change_tau"] = -1.0
    (tmp_path / "before" / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserError, match="change_tau must be 0 or more"):
        load_model(tmp_path / "before")


def test_checkpoint_refusals(tmp_path: Path) -> None:
    save_model(Malt(TINY), tmp_path / "ok")
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "absent")

    truncated = tmp_path / "truncated"
    save_model(Malt(TINY), truncated)
    data = (truncated / WEIGHTS_NAME).read_bytes()
    (truncated / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=f"{WEIGHTS_NAME}: corrupt"):
        load_model(truncated)

    old = tmp_path / "old"
    save_model(Malt(TINY), old)
    config = json.loads((old / CONFIG_NAME).read_text())
    config["format_version"] = 0
    (old / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserError, match="format version 0"):
        load_model(old)

    garbled = tmp_path / "garbled"
    save_model(Malt(TINY), garbled)
    (garbled / CONFIG_NAME).write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(garbled)

    mismatched = tmp_path / "mismatched"
    save_model(Malt(TINY), mismatched)
    config = json.loads((mismatched / CONFIG_NAME).read_text())
    config["d_model"] = 64
    (mismatched / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(UserError, match="shape"):
        load_model(mismatched)

    no_weights = tmp_path / "no_weights"
    save_model(Malt(TINY), no_weights)
    (no_weights / WEIGHTS_NAME).unlink()
    with pytest.raises(UserError, match="weights not found"):
        load_model(no_weights)
