"""fill_gap keeps the model's change only where it pays on the camera's own footage
(gapfill.fill.context_check): a model whose change is noise leaves the first guess alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gapfill.fill.context_check import CHECK_FRAMES, change_pays
from gapfill.fill.fill_gap import fill_gap, resolve_backend
from gapfill.fill.first_guess import motion_guess
from gapfill.media.frames import resize_frames
from gapfill.synth.scene import Scene

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def footage() -> np.ndarray:
    return Scene(4243, width=96, height=64, fps=10.0).render(0, 120)


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MALT whose zero-initialised output layers (adaLN-Zero) are drawn at random: an
    untrained model that does change its guess, by noise."""
    from gapfill.network.checkpoint import save_model
    from gapfill.network.config import MaltConfig
    from gapfill.network.malt import Malt

    torch.manual_seed(0)
    model = Malt(MaltConfig.tiny())
    with torch.no_grad():
        for parameter in model.denoiser.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.5)
    folder = tmp_path_factory.mktemp("untrained_checkpoint")
    save_model(model, folder)
    return folder


def test_a_change_that_does_not_pay_is_dropped(untrained_checkpoint: Path, footage: np.ndarray):
    """An untrained model's change is noise; the check sees that on the context, and the fill is
    the first guess at full size, bit for bit."""
    before, after = footage[:80], footage[100:]
    engine = resolve_backend(untrained_checkpoint)
    small = (engine.config.height, engine.config.width)
    assert not change_pays(engine, resize_frames(before[-64:], small), 0, None, 4)
    checked = fill_gap(before, after, 20, 10.0, model=untrained_checkpoint)
    np.testing.assert_array_equal(checked, motion_guess(before[-64:], after[:32], 20, 10.0))
    unchecked = fill_gap(before, after, 20, 10.0, model=untrained_checkpoint, check_change=False)
    assert not np.array_equal(checked, unchecked), "the model should change its guess"


def test_without_enough_context_to_check_the_guess_is_the_fill(
    tiny_checkpoint: Path, footage: np.ndarray
):
    engine = resolve_backend(tiny_checkpoint)
    small = (engine.config.height, engine.config.width)
    short = resize_frames(footage[: CHECK_FRAMES - 1], small)
    assert not change_pays(engine, short, 0, None, 4)
    before, after = footage[:20], footage[30:]
    np.testing.assert_array_equal(
        fill_gap(before, after, 10, 10.0, model=tiny_checkpoint),
        motion_guess(before, after[:32], 10, 10.0),
    )
