"""People followed through the context frames, and drawn in a chosen context pose
(gapfill.fill.pose_tracks, MotionFill.follow_poses and Track.pose_weights): the interface a
learned pose model plugs into (benchmarks/pose_selection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.metrics import psnr
from gapfill.fill.pose_tracks import POSE_CONTEXT
from gapfill.synth.scene import Scene

SIZE, FPS, CONTEXT = (640, 360), 10.0, 32


@pytest.fixture(scope="module")
def walker_hole() -> tuple[Scene, int, int, np.ndarray]:
    """Training seed 22's 16-frame hole at frame 32, which one person crosses: (scene, start,
    span, video)."""
    scene = Scene(22, *SIZE, FPS)
    start, span = 32, 16
    return scene, start, span, scene.render(0, start + span + CONTEXT)


def guess_of(walker_hole) -> tuple[MotionGuess, np.ndarray]:
    _, start, span, video = walker_hole
    guess = MotionGuess(video[start - CONTEXT : start], video[start + span :], span)
    return guess, video[start : start + span]


def test_a_person_crossing_is_followed_through_the_context(walker_hole) -> None:
    """The pair's poses come from most context frames each side, and each pose's point on the
    path moves with the person: its offset from where the person really is stays put."""
    scene, start, span, _ = walker_hole
    guess, _ = guess_of(walker_hole)
    assert not any(item.poses for item in guess.base.tracks)  # followed on request only
    (person,) = guess.base.follow_poses()
    assert guess.base.follow_poses() == [person]  # and once
    frames = [pose.frame for pose, _, _ in person.poses]
    assert len(frames) >= 10 and len(set(frames)) == len(frames)
    assert all(-POSE_CONTEXT < f <= 0 or span < f <= span + POSE_CONTEXT for f in frames)
    (walker,) = scene.walkers_at((start - 1) / FPS)
    offsets = [
        anchor[0] - walker.x_at((start - 1 + pose.frame) / FPS, SIZE[0])
        for pose, _, anchor in person.poses
    ]
    assert np.ptp(offsets) < 3, offsets  # full-size px


def test_all_weight_on_the_dissolve_is_the_first_guess(walker_hole) -> None:
    guess, _ = guess_of(walker_hole)
    plain = guess.frames(0, guess.n_missing)[0]
    for item in guess.base.follow_poses():
        item.pose_weights = np.zeros((guess.n_missing, len(item.poses) + 1), np.float32)
        item.pose_weights[:, -1] = 1
    guess.base.forget_frames()
    np.testing.assert_array_equal(guess.frames(0, guess.n_missing)[0], plain)


def test_the_right_context_pose_drawn_on_the_path_beats_the_dissolve(walker_hole) -> None:
    """Each frame drawn with the context pose nearest the truth (chosen with the truth known,
    as benchmarks/pose_selection.py's oracle): the poses line up with the path, so the frames
    get nearer the truth than the guess's cross-dissolve (0.72 dB when written)."""
    guess, truth = guess_of(walker_hole)
    n = guess.n_missing
    plain = psnr(guess.frames(0, n)[0], truth)
    (person,) = guess.base.follow_poses()
    weights = np.zeros((n, len(person.poses) + 1), np.float32)
    person.pose_weights = weights
    for k in range(n):
        errors = []
        for choice in range(len(person.poses) + 1):
            weights[k] = np.eye(len(person.poses) + 1)[choice]
            guess.base.forget_frames()
            errors.append(((guess.frames(k, 1)[0][0].astype(float) - truth[k]) ** 2).sum())
        weights[k] = np.eye(len(person.poses) + 1)[int(np.argmin(errors))]
    guess.base.forget_frames()
    assert psnr(guess.frames(0, n)[0], truth) > plain + 0.4
