"""The periodic layer and MotionGuess: what repeats in place keeps repeating through a gap."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from gapfill.fill.baselines import flow_plate
from gapfill.fill.first_guess import MotionGuess, motion_guess
from gapfill.fill.metrics import psnr
from gapfill.fill.periodic import PeriodicLayer

LAMP_PERIOD = 7.0  # frames, on for half of it
WHEEL_PERIOD = 9.3  # frames per spoke-to-spoke turn: not a whole number of frames


def machine(frames: int, seed: int = 0, walker: bool = False) -> np.ndarray:
    """A textured still wall with a blinking lamp and a three-spoke wheel (and a walker)."""
    rng = np.random.default_rng(seed)
    wall = cv2.GaussianBlur(rng.integers(60, 160, (96, 128, 3), dtype=np.uint8), (0, 0), 1.0)
    video = np.repeat(wall[None], frames, axis=0)
    for t in range(frames):
        if (t % LAMP_PERIOD) < LAMP_PERIOD / 2:
            cv2.circle(video[t], (100, 20), 6, (255, 240, 120), -1)
        angle = 2 * math.pi * t / (3 * WHEEL_PERIOD)  # three spokes: one spoke period a third
        for spoke in range(3):
            a = angle + spoke * 2 * math.pi / 3
            tip = (int(40 + 22 * math.cos(a)), int(55 + 22 * math.sin(a)))
            cv2.line(video[t], (40, 55), tip, (240, 240, 240), 3)
        if walker:
            x = 2 * t - 20
            video[t, 70:92, max(x, 0) : max(x + 10, 0)] = (30, 200, 220)
    return video


def cut(video: np.ndarray, start: int, span: int, context: int = 32):
    return (
        video[start - context : start],
        video[start : start + span],
        video[start + span :][:context],
    )


@pytest.mark.parametrize("span", [16, 40])
def test_lamp_and_wheel_keep_their_period_and_phase(span: int) -> None:
    video = machine(32 + span + 32)
    before, truth, after = cut(video, 32, span)
    layer = PeriodicLayer(before, after, span)
    periods = sorted(region.period for region in layer.regions)
    assert any(abs(p - LAMP_PERIOD) < 0.1 for p in periods), periods
    assert any(abs(p - WHEEL_PERIOD) < 0.2 for p in periods), periods
    guess = motion_guess(before, after, span, 10.0)
    plate_like = flow_plate(before, after, span, 10.0)
    # The flowplate guess blurs the wheel into a disc and leaves the lamp half-lit.
    assert psnr(guess, truth) > psnr(plate_like, truth) + 6, (
        psnr(guess, truth),
        psnr(plate_like, truth),
    )


def test_still_scene_has_no_periodic_region_and_is_reproduced_exactly() -> None:
    wall = machine(1)[:1]
    still = np.repeat(wall, 80, axis=0)
    before, truth, after = cut(still, 32, 16)
    assert PeriodicLayer(before, after, 16).regions == []
    np.testing.assert_array_equal(motion_guess(before, after, 16, 10.0), truth)


def test_what_does_not_repeat_is_left_to_the_other_layers() -> None:
    video = machine(32 + 24 + 32, walker=True)
    before, _, after = cut(video, 32, 24)
    coverage = PeriodicLayer(before, after, 24).coverage(video.shape[1:3])
    # The walker's row, away from the wheel and the lamp: moving, not periodic, not painted.
    assert coverage[74:90, 70:128].max() < 0.05
    assert coverage[50:60, 30:50].max() > 0.9  # the wheel's hub region


def test_one_sided_context_continues_the_cycle() -> None:
    video = machine(32 + 16)
    before, truth, _ = cut(video, 32, 16)
    empty = before[:0]
    guess = motion_guess(before, empty, 16, 10.0)
    held = np.repeat(before[-1:], 16, axis=0)
    assert psnr(guess, truth) > psnr(held, truth) + 6


def test_frames_keep_first_guess_semantics() -> None:
    video = machine(32 + 8 + 32)
    before, _, after = cut(video, 32, 8)
    guess = MotionGuess(before, after, 8)
    frames, known = guess.frames(4, 8)
    assert frames.shape == (8, 96, 128, 3) and frames.dtype == np.uint8
    assert known.tolist() == [False] * 4 + [True] * 4
    np.testing.assert_array_equal(frames[4:], after[:4])


def test_no_object_is_tracked_where_the_periodic_layer_paints() -> None:
    """A lamp switching on is not something arriving: on a simulated plant camera, no track of
    the motion layers starts or ends inside a periodic region (lamps, the flywheel)."""
    from gapfill.synth.scene import Scene

    video = Scene(2_000_000, 640, 360, 10.0).render(0, 80)  # a lamp blinks in this window
    guess = MotionGuess(video[:32], video[48:], 16)
    painted = guess.periodic.coverage((360, 640))
    assert painted.max() > 0.99
    for track in guess.base.tracks:
        for where in (track.p0, track.p1):
            if where is not None:
                assert painted[int(where[1]), int(where[0])] < 0.5, where


def test_touching_lamps_with_different_periods_each_keep_their_own() -> None:
    """Two lamps side by side make one connected periodic region; each part is checked with its
    own period across the gap, so neither is painted at the other's (held-out seed 2000000 has a
    lamp beside the flywheel's rim that used to take the wheel's period)."""
    rng = np.random.default_rng(3)
    wall = cv2.GaussianBlur(rng.integers(60, 160, (64, 96, 3), dtype=np.uint8), (0, 0), 1.0)
    video = np.repeat(wall[None], 32 + 16 + 32, axis=0)
    for t in range(len(video)):
        if (t % 6.0) < 3.0:
            video[t, 20:36, 30:46] = (255, 240, 120)
        if (t % 11.0) < 5.5:
            video[t, 20:36, 46:62] = (120, 255, 240)
    before, truth, after = cut(video, 32, 16)
    periods = sorted(region.period for region in PeriodicLayer(before, after, 16).regions)
    assert any(abs(p - 6.0) < 0.1 for p in periods), periods
    assert any(abs(p - 11.0) < 0.2 for p in periods), periods
    guess = motion_guess(before, after, 16, 10.0)
    for lamp in (np.s_[:, 22:34, 32:44], np.s_[:, 22:34, 48:60]):
        assert psnr(guess[lamp], truth[lamp]) > 30, psnr(guess[lamp], truth[lamp])


def test_a_box_riding_a_periodic_belt_is_not_painted_over() -> None:
    """A belt's slats repeat in place, the boxes on it do not: where the steady layer carries the
    belt, the periodic layer yields to it, and a box crossing the hole stays a box."""
    rng = np.random.default_rng(4)
    wall = cv2.GaussianBlur(rng.integers(90, 130, (96, 160, 3), dtype=np.uint8), (0, 0), 1.0)
    slats = np.zeros((20, 12, 3), np.uint8)
    slats[:, :3] = 200  # a bright cleat every 12 px: at 3 px/frame the belt repeats in 4 frames
    strip = np.tile(slats, (1, 40, 1))
    frames = 32 + 16 + 32
    video = np.repeat(wall[None], frames, axis=0)
    for t in range(frames):
        shift = (3 * t) % 12
        video[t, 60:80] = strip[:, 12 - shift : 12 - shift + 160]
        x = 3 * t - 80  # a 24-px box, riding at the belt's speed
        if x + 24 > 0 and x < 160:
            video[t, 56:80, max(x, 0) : min(x + 24, 160)] = (40, 90, 200)
    before, truth, after = cut(video, 32, 16)
    guess = motion_guess(before, after, 16, 10.0)
    mid = 8  # the box is inside the picture all through the hole (x = 16..61)
    x = 3 * (32 + mid) - 80
    box = np.s_[mid : mid + 1, 58:78, x + 2 : x + 22]
    assert psnr(guess[box], truth[box]) > 30, psnr(guess[box], truth[box])


def test_frames_are_the_same_however_they_are_asked_for() -> None:
    """The periodic layer and the wheels are painted in place on freshly drawn frames: asking
    again, one frame at a time, or after a coverage query gives the same pixels (a cached frame
    painted twice would not)."""
    video = machine(32 + 16 + 32)
    before, _, after = cut(video, 32, 16)
    guess = MotionGuess(before, after, 16)
    assert guess.periodic.regions
    whole = guess.frames(0, 16)[0]
    np.testing.assert_array_equal(guess.frames(0, 16)[0], whole)
    for k in (0, 7, 15):
        for _ in range(2):
            np.testing.assert_array_equal(guess.frames(k, 1)[0][0], whole[k])
        guess.base.coverage(k)
        np.testing.assert_array_equal(guess.frames(k, 1)[0][0], whole[k])
