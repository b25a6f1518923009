"""The classical fillers: shapes and edge cases, and the properties the benchmark relies on."""

from __future__ import annotations

import numpy as np
import pytest

from gapfill.errors import UserError
from gapfill.fill.baselines import background_plate, crossfade, load_rife
from gapfill.fill.fillers import BASELINES
from gapfill.fill.metrics import psnr

FILLER_NAMES = sorted(BASELINES)


def moving_square(frames: int, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """A textured static background with a bright square moving right 2 px per frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 120, size=(height, width, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        x = 10 + 2 * t
        video[t, 20:36, x : x + 16] = (230, 200, 60)
    return video


@pytest.mark.parametrize("name", FILLER_NAMES)
@pytest.mark.parametrize("n_missing", [1, 5])
@pytest.mark.parametrize("sides", ["both", "before_only", "after_only"])
def test_filler_shape_dtype_and_one_sided_context(name: str, n_missing: int, sides: str) -> None:
    video = moving_square(12)
    before, after = video[:4], video[4 + n_missing : 8 + n_missing]
    if sides == "before_only":
        after = after[:0]
    if sides == "after_only":
        before = before[:0]
    out = BASELINES[name](before, after, n_missing, 25.0)
    assert out.shape == (n_missing, 64, 96, 3)
    assert out.dtype == np.uint8
    if sides == "before_only":  # with nothing after, a filler can only continue what it saw
        assert psnr(out[:1], before[-1:]) > 25
    if sides == "after_only":
        assert psnr(out[-1:], after[:1]) > 25


@pytest.mark.parametrize("name", FILLER_NAMES)
def test_filler_reproduces_a_static_scene_exactly(name: str) -> None:
    still = np.repeat(moving_square(1)[:1], 6, axis=0)
    out = BASELINES[name](still[:3], still[3:], 4, 10.0)
    if name == "rife":  # a network: near-exact, not bit-exact
        assert psnr(out, still[:4]) > 40
    else:
        np.testing.assert_array_equal(out, still[:4])


@pytest.mark.parametrize(
    ("before", "after", "n_missing", "message"),
    [
        (np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 8, 8, 3), np.uint8), 2, "both are empty"),
        (np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3), np.uint8), 2, "uint8"),
        (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8, 3), np.uint8), 2, "shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 9, 3), np.uint8), 2, "sizes differ"),
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8), 0, "n_missing"),
    ],
)
@pytest.mark.parametrize("name", FILLER_NAMES)
def test_bad_input_is_a_user_error(name: str, before, after, n_missing, message) -> None:
    with pytest.raises(UserError, match=message):
        BASELINES[name](before, after, n_missing, 25.0)


def test_background_plate_beats_crossfade_on_a_long_span_of_a_fixed_camera() -> None:
    """People cross a static scene: mid-span, the plate shows the empty background, the crossfade
    shows two half-transparent ghosts of whoever stood at the edges."""
    rng = np.random.default_rng(7)
    height, width, frames = 72, 128, 16 + 64 + 16
    background = rng.integers(30, 200, size=(height, width, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0).astype(np.int16)
    for t in range(frames):
        for lane, (speed, colour) in enumerate([(3, (250, 60, 40)), (-2, (40, 60, 250))]):
            x = (10 + speed * t) % (width + 20) - 20
            y = 8 + 32 * lane
            video[t, y : y + 24, max(x, 0) : max(x + 14, 0)] = colour
    video += rng.normal(0, 2.0, video.shape).round().astype(np.int16)  # sensor noise
    video = np.clip(video, 0, 255).astype(np.uint8)
    before, truth, after = video[:16], video[16:80], video[80:]

    plate_psnr = psnr(background_plate(before, after, 64, 10.0), truth)
    crossfade_psnr = psnr(crossfade(before, after, 64, 10.0), truth)
    assert plate_psnr > crossfade_psnr + 1.0


def test_rife_loads_shipped_weights_and_beats_crossfade_at_the_midpoint() -> None:
    net = load_rife()
    assert sum(p.numel() for p in net.parameters()) > 1_000_000
    video = moving_square(9)  # the square moves 16 px between frames 0 and 8
    truth = video[4:5]
    rife_mid = BASELINES["rife"](video[:1], video[8:9], 1, 25.0)
    crossfade_mid = crossfade(video[:1], video[8:9], 1, 25.0)
    assert psnr(rife_mid, truth) > psnr(crossfade_mid, truth) + 3.0


def test_flow_beats_crossfade_on_a_moving_pattern() -> None:
    video = moving_square(9)
    flow_fill = BASELINES["flow"](video[:1], video[8:9], 7, 25.0)
    assert psnr(flow_fill, video[1:8]) > psnr(crossfade(video[:1], video[8:9], 7, 25.0), video[1:8])
