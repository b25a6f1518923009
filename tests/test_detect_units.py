"""The detectors as pure functions, on hand-made per-frame signals (no video needed)."""

from __future__ import annotations

import numpy as np
import pytest

from gapfill.config import DetectionSettings
from gapfill.detect.features import FrameFeatures, block_edge_ratio
from gapfill.detect.merge import merge_spans
from gapfill.detect.picture import detect_black, detect_blocky, detect_frozen, detect_green
from gapfill.detect.spans import Span, runs
from gapfill.detect.timeline import (
    Coverage,
    detect_file_gaps,
    detect_recording_gaps,
    detect_timestamp_errors,
    place_frames,
)


def features(times: np.ndarray, **signals: np.ndarray) -> FrameFeatures:
    n = len(times)
    rng = np.random.default_rng(0)
    base = {
        "time": np.asarray(times, float),
        "pts": np.rint(np.asarray(times) * 90000).astype(np.int64),
        "keyframe": np.arange(n) % 20 == 0,
        "decode_ok": np.ones(n, bool),
        "ydif": (1.2 + 0.1 * rng.standard_normal(n)).astype(np.float32),
        "dark_ratio": np.zeros(n, np.float32),
        "luma_mean": np.full(n, 110, np.float32),
        "luma_std": np.full(n, 40, np.float32),
        "saturation": np.full(n, 12, np.float32),
        "u_mean": np.full(n, 128, np.float32),
        "v_mean": np.full(n, 128, np.float32),
        "blockiness": np.full(n, 0.8, np.float32),
    }
    base.update(signals)
    return FrameFeatures(**base)


def test_runs() -> None:
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs(np.zeros(0, bool)) == []


def test_camera_cadence_is_learned_not_assumed() -> None:
    """9.6 fps with timestamp jitter on a camera set to 10 fps: no gaps, slots 0..N-1."""
    rng = np.random.default_rng(1)
    times = np.arange(96) / 9.6 + rng.uniform(-0.01, 0.01, 96)
    timeline = place_frames(features(times), interval_hint=0.1)
    assert timeline.interval == pytest.approx(1 / 9.6, rel=0.01)
    assert (timeline.slots == np.arange(96)).all()
    assert detect_file_gaps(timeline, times, 1.5) == []


def test_dropped_frames_give_the_exact_missing_count() -> None:
    kept = np.r_[0:30, 37:100]
    times = kept / 10.0
    timeline = place_frames(features(times), None)
    [gap] = detect_file_gaps(timeline, times, 1.5)
    assert (gap.kind, gap.frame_start, gap.frame_end) == ("missing", 30, 37)
    assert gap.figures["missing_frames"] == 7
    assert gap.start == pytest.approx(3.0) and gap.end == pytest.approx(3.7)


@pytest.mark.parametrize(
    ("label", "claimed"),
    [
        # the clock steps back 3 frames for frames 50..55, then is right again
        ("backwards", np.r_[0:50, np.arange(50, 56) - 3, 56:100]),
        # frames 50..55 carry frame 49's timestamp
        ("repeat", np.r_[0:50, [49] * 6, 56:100]),
    ],
)
def test_broken_timestamps_mark_exactly_the_run(label: str, claimed: np.ndarray) -> None:
    times = claimed / 10.0
    f = features(times)
    timeline = place_frames(f, None)
    assert detect_file_gaps(timeline, times, 1.5) == [], label
    [span] = detect_timestamp_errors(f, timeline)
    assert (span.kind, span.frame_start, span.frame_end) == ("timestamp", 50, 56), label


def test_frozen_needs_the_noise_floor_not_equality() -> None:
    settings = DetectionSettings(freeze_min_seconds=1.0, freeze_noise_floor_factor=0.5)
    times = np.arange(100) / 10.0
    ydif = np.full(100, 1.2, np.float32)
    ydif[40:65] = 0.0  # frames 40..64 repeat frame 39
    ydif[40] = 0.3  # the encoder refining the first repeat
    ydif[60] = 0.9  # a keyframe re-coding the held picture
    keyframe = np.arange(100) % 20 == 0
    f = features(times, ydif=ydif, keyframe=keyframe)
    [span] = detect_frozen(f, place_frames(f, None), settings)
    assert (span.frame_start, span.frame_end) == (40, 65)
    # A static scene: differences are all at the sensor noise floor, never below it.
    still = features(times, ydif=np.full(100, 0.6, np.float32))
    assert detect_frozen(still, place_frames(still, None), settings) == []


def test_frozen_shorter_than_the_minimum_is_ignored() -> None:
    ydif = np.full(100, 1.2, np.float32)
    ydif[40:45] = 0.0
    f = features(np.arange(100) / 10.0, ydif=ydif)
    assert detect_frozen(f, place_frames(f, None), DetectionSettings(freeze_min_seconds=1.0)) == []


def test_black_green_blocky_thresholds() -> None:
    settings = DetectionSettings()
    n = 60
    dark = np.zeros(n, np.float32)
    dark[10:20] = 1.0
    std = np.full(n, 40, np.float32)
    std[10:20] = 1.0
    std[30:35] = 0.0
    saturation = np.full(n, 10, np.float32)
    saturation[30:35] = 63.0  # RGB (0, 135, 0) after BT.601 conversion
    blockiness = np.full(n, 0.8, np.float32)
    blockiness[45:50] = 6.0
    f = features(
        np.arange(n) / 10.0,
        dark_ratio=dark,
        luma_std=std,
        saturation=saturation,
        blockiness=blockiness,
    )
    timeline = place_frames(f, None)
    assert [(s.frame_start, s.frame_end) for s in detect_black(f, timeline, settings)] == [(10, 20)]
    assert [(s.frame_start, s.frame_end) for s in detect_green(f, timeline, settings)] == [(30, 35)]
    assert [(s.frame_start, s.frame_end) for s in detect_blocky(f, timeline, settings)] == [
        (45, 50)
    ]


def test_block_edge_ratio_sees_blocks_of_8_and_16() -> None:
    rng = np.random.default_rng(2)
    smooth = np.cumsum(rng.normal(0, 1, (1, 64, 128)), axis=2).astype(np.int16) + 100
    for block in (8, 16):
        means = smooth.reshape(1, 64 // block, block, 128 // block, block).mean(axis=(2, 4))
        blocky = means.repeat(block, 1).repeat(block, 2).astype(np.int16)
        assert block_edge_ratio(blocky, (8, 16))[0] > 2.5
    assert block_edge_ratio(smooth, (8, 16))[0] < 1.5
    assert block_edge_ratio(np.zeros((1, 64, 128), np.int16), (8, 16))[0] == 0.0


def test_merge_keeps_the_most_severe_kind_and_every_part() -> None:
    spans = [
        Span("frozen", 1.0, 3.0, 10, 30, "picture.freeze", {"noise_floor": 1.0}),
        Span("black", 2.0, 4.0, 20, 40, "picture.black"),
        Span("blocky", 4.0, 5.0, 40, 50, "picture.blockiness"),  # touches: merged
        Span("green", 6.0, 7.0, 60, 70, "picture.solid_colour"),  # apart: kept
    ]
    merged = merge_spans(spans, tolerance=0.05)
    assert [(s.kind, s.frame_start, s.frame_end) for s in merged] == [
        ("black", 10, 50),
        ("green", 60, 70),
    ]
    assert [p["kind"] for p in merged[0].figures["merged"]] == ["frozen", "black", "blocky"]


def test_recording_gaps_across_files() -> None:
    hour = 7 * 3600.0
    recordings = [
        Coverage(1, hour - 20, hour - 10, True),
        Coverage(2, hour - 10, hour, True),
        # 07:00:00-07:00:10 never arrived
        Coverage(3, hour + 10, hour + 16.0, True),  # truncated: 6 of its 10 s
        Coverage(4, hour + 20, hour + 20, False),  # unreadable
        Coverage(5, hour + 30, hour + 39.96, True),  # a frame's worth short of 10 s: no gap
        Coverage(6, hour + 40, hour + 50, True),
    ]
    gaps = detect_recording_gaps(recordings, interval=0.1, gap_factor=1.5)
    assert [(s.start - hour, s.end - hour, culprit) for s, culprit in gaps] == [
        (0.0, 10.0, None),
        (16.0, 30.0, 4),
    ]
