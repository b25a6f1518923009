"""fill_gap keeps the model's change only where it pays on the camera's own footage
(gapfill.fill.context_check): a model whose change is noise leaves the first guess alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gapfill.fill.context_check import CHECK_FRAMES
from gapfill.fill.fill_gap import DROPPED, NO_CHECK_CONTEXT, UNCHECKED, fill_gap, fill_hole
from gapfill.fill.first_guess import motion_guess
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
    checked = fill_hole(before, after, 20, 10.0, model=untrained_checkpoint)
    assert checked.model_change == DROPPED
    assert checked.model_mse > checked.guess_mse > 0
    assert checked.facts() == {
        "model_change": "dropped",
        "check_model_mse": round(checked.model_mse, 4),
        "check_guess_mse": round(checked.guess_mse, 4),
    }
    guess = motion_guess(before[-64:], after[:32], 20, 10.0)
    np.testing.assert_array_equal(checked.frames, guess)
    np.testing.assert_array_equal(
        fill_gap(before, after, 20, 10.0, model=untrained_checkpoint), guess
    )
    unchecked = fill_hole(before, after, 20, 10.0, model=untrained_checkpoint, check_change=False)
    assert unchecked.model_change == UNCHECKED and unchecked.model_mse is None
    assert not np.array_equal(checked.frames, unchecked.frames), "the model should change its guess"


def test_without_enough_context_to_check_the_guess_is_the_fill(
    tiny_checkpoint: Path, footage: np.ndarray
):
    before, after = footage[: CHECK_FRAMES - 1], footage[CHECK_FRAMES + 9 :]
    filled = fill_hole(before, after, 10, 10.0, model=tiny_checkpoint)
    assert filled.model_change == NO_CHECK_CONTEXT
    assert filled.facts() == {"model_change": "no-check-context"}
    np.testing.assert_array_equal(filled.frames, motion_guess(before, after[:32], 10, 10.0))
