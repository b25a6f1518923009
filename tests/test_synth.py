"""Simulated cameras: the scene, the MP4 writer, every injected fault and the ground truth.

Small pictures (160x96) keep this fast; the behaviour does not depend on the size.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import av.logging
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gapfill.errors import UserError
from gapfill.media.encode import VideoWriter
from gapfill.synth.commands import synth
from gapfill.synth.faults import ALL_INSTANCES, FAULT_KINDS, GREEN_RGB, blocky_picture
from gapfill.synth.scene import Scene
from gapfill.synth.truth import FaultTruth, GroundTruth, parse_iso_utc
from gapfill.synth.writer import GROUND_TRUTH_NAME, synthesize

W, H = 160, 96
TICKS = 90000  # time base 1/90000


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    """Two cameras, 2.5 minutes each, every fault kind and variant at least once per camera."""
    root = tmp_path_factory.mktemp("synth") / "rec"
    truth = synthesize(
        root, cameras=2, minutes=2.5, faults="all", seed=11, width=W, height=H, workers=1
    )
    return root, truth


def decode(path: Path) -> tuple[list[tuple[int, bool, np.ndarray]], list[str]]:
    """(pts, keyframe, rgb) of each frame PyAV decodes, and the errors met (raised or logged)."""
    frames, errors = [], []
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            try:
                with av.open(str(path)) as container:
                    for packet in container.demux(video=0):
                        try:
                            for frame in packet.decode():
                                frames.append(
                                    (frame.pts, frame.key_frame, frame.to_ndarray(format="rgb24"))
                                )
                        except av.FFmpegError as error:
                            errors.append(str(error))
            except av.FFmpegError as error:
                errors.append(str(error))
        errors += [message for level, _, message in logs if level <= av.logging.ERROR]
    finally:
        av.logging.set_level(previous)
    return frames, errors


def faults_of(truth: GroundTruth, fault: str) -> list[FaultTruth]:
    found = [f for f in truth.faults if f.fault == fault]
    assert found, f"no {fault} fault in the ground truth"
    return found


def frame_pts(k: int, cadence: float = 10.0) -> int:
    return round(k * TICKS / cadence)


# ---- scene -----------------------------------------------------------------------------------


def test_scene_frames_are_random_access_and_seed_dependent() -> None:
    scene = Scene(3, W, H, fps=10.0)
    window = scene.render(40, 6)
    assert window.shape == (6, H, W, 3) and window.dtype == np.uint8
    # frame i depends only on (seed, i): a fresh scene drawing a different window agrees
    np.testing.assert_array_equal(Scene(3, W, H, fps=10.0).render(43, 2), window[3:5])
    other = Scene(4, W, H, fps=10.0).render(40, 1)[0]
    assert np.abs(other.astype(int) - window[0]).mean() > 10  # another layout, not just noise


def test_scene_has_motion_noise_and_slow_light() -> None:
    scene = Scene(5, W, H, fps=10.0)
    a, b = scene.render(100, 2).astype(np.int16)
    difference = np.abs(a - b).max(axis=2)
    assert (difference > 40).mean() > 0.005  # belt, boxes, wheel move between frames
    assert 0.3 < np.median(difference) < 8  # static background still differs: sensor noise
    gains = [scene.light_gain(t) for t in np.arange(0, 600, 1.0)]
    assert 0.01 < max(gains) - 1 < 0.05 and abs(gains[1] - gains[0]) < 0.002


def test_static_scene_changes_only_by_sensor_noise(tmp_path: Path) -> None:
    scene = Scene(5, W, H, fps=10.0, motion=False)
    a, b = scene.render(0, 1)[0].astype(np.int16), scene.render(250, 1)[0].astype(np.int16)
    difference = np.abs(a - b)
    assert 0.5 < difference.mean() < 4 and (difference > 25).mean() < 1e-3
    truth = synthesize(
        tmp_path / "idle",
        cameras=1,
        minutes=0.5,
        faults="none",
        static=True,
        width=W,
        height=H,
        workers=1,
    )
    frames, errors = decode(tmp_path / "idle" / truth.segments[0].path)
    steps = [np.abs(x[2].astype(int) - y[2]).mean() for x, y in itertools.pairwise(frames)]
    assert not errors and truth.args["static"] is True
    assert 0.05 < np.median(steps) < 4  # never an exact repeat: the noise floor stays


def test_scene_walkers_cross_the_picture() -> None:
    scene = Scene(9, W, H, fps=10.0)
    seconds = np.arange(0, 300, 0.5)
    visible = [t for t in seconds if scene.walkers_at(t)]
    assert visible, "nobody walked by in five minutes"
    t = visible[len(visible) // 2]
    walker = scene.walkers_at(t)[0]
    assert walker.height_px > 0.3 * H


# ---- the MP4 writer ---------------------------------------------------------------------------


def test_video_writer_writes_atomically_with_explicit_pts(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    path = folder / "clip.mp4"
    frames = Scene(1, W, H).render(0, 12)
    pts = [0, 9000, 18000, 40000, 49000, 58000, 67000, 76000, 85000, 94000, 103000, 112000]
    with VideoWriter(
        path,
        width=W,
        height=H,
        fps=10,
        gop=5,
        metadata={"creation_time": "2026-01-05T06:59:00.000000Z"},
    ) as writer:
        for rgb, stamp in zip(frames, pts, strict=True):
            writer.write(rgb, stamp)
        assert not path.exists()  # nothing under the final name until close
    decoded, errors = decode(path)
    assert not errors
    assert [p for p, _, _ in decoded] == pts
    assert [k for _, k, _ in decoded] == [i % 5 == 0 for i in range(12)]
    with av.open(str(path)) as container:
        assert container.metadata["creation_time"].startswith("2026-01-05T06:59:00")
    assert [p.name for p in folder.iterdir()] == ["clip.mp4"]


def test_video_writer_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    path = folder / "broken.mp4"
    with pytest.raises(ValueError), VideoWriter(path, width=W, height=H, fps=10, gop=5) as writer:
        writer.write(np.zeros((H, W, 3), np.uint8), 0)
        writer.write(np.zeros((H + 2, W, 3), np.uint8), 9000)  # wrong size
    assert list(folder.iterdir()) == []


# ---- layout, decoding and ground truth -------------------------------------------------------


def test_layout_and_ground_truth_match_the_files(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert on_disk == sorted([GROUND_TRUTH_NAME] + [s.path for s in truth.segments])
    assert GroundTruth.load(root / GROUND_TRUTH_NAME).to_dict() == truth.to_dict()
    assert {c.name for c in truth.cameras} == {"press-01", "conveyor-02"}
    for segment in truth.segments:
        assert re.fullmatch(rf"2026-01-05/(06|07)/{segment.camera}/\d\d\.\d\d\.mp4", segment.path)
        start = parse_iso_utc(segment.start)
        assert segment.path.startswith(start.strftime("%Y-%m-%d/%H/")) and segment.path.endswith(
            start.strftime("/%M.%S.mp4")
        )
        data = (root / segment.path).read_bytes()
        assert len(data) == segment.bytes and hashlib.sha256(data).hexdigest() == segment.sha256
    hours = {s.path.split("/")[1] for s in truth.segments}
    assert hours == {"06", "07"}  # the default start crosses an hour


def test_every_fault_kind_recorded_consistently(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    for camera in truth.cameras:
        mine = [f for f in truth.faults if f.camera == camera.name]
        assert {(f.fault, f.variant) for f in mine} >= set(ALL_INSTANCES)
        spans = sorted((parse_iso_utc(f.start), parse_iso_utc(f.end)) for f in mine)
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            assert next_start - end >= timedelta(seconds=2), "faults too close"
    for fault in truth.faults:
        assert fault.kind == FAULT_KINDS[fault.fault]
        assert 0 <= fault.frame_start < fault.frame_end
        start, end = parse_iso_utc(fault.start), parse_iso_utc(fault.end)
        segment_start = parse_iso_utc(fault.start) - timedelta(seconds=fault.frame_start / 10.0)
        assert end - start == timedelta(seconds=(fault.frame_end - fault.frame_start) / 10.0)
        assert segment_start.second % 10 == 0 and segment_start.microsecond == 0
        if fault.fault == "missing_segment":
            assert fault.path is None and not (root / fault.details["expected_path"]).exists()
        else:
            assert (root / fault.path).is_file()


def test_clean_segments_decode_with_regular_timestamps(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    damaged = {f.path for f in truth.faults}
    clean = [s for s in truth.segments if s.path not in damaged]
    assert len(clean) >= 5
    for segment in clean[:5]:
        frames, errors = decode(root / segment.path)
        assert not errors
        assert len(frames) == segment.planned_frames == 100
        assert [p for p, _, _ in frames] == [frame_pts(k) for k in range(100)]
        assert [k for k in range(100) if frames[k][1]] == [0, 20, 40, 60, 80]  # 2 s GOP
        assert frames[0][2].shape == (H, W, 3)
        with av.open(str(root / segment.path)) as container:
            assert parse_iso_utc(container.metadata["creation_time"]) == parse_iso_utc(
                segment.start
            )


# ---- each fault is really in the files -------------------------------------------------------


def test_dropped_frames_leave_a_hole_in_the_timeline(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    for fault in faults_of(truth, "dropped_frames"):
        frames, errors = decode(root / fault.path)
        assert not errors
        kept = [k for k in range(100) if not fault.frame_start <= k < fault.frame_end]
        assert [p for p, _, _ in frames] == [frame_pts(k) for k in kept]


def test_corrupted_packets_produce_decode_errors_and_garbled_frames(
    recording: tuple[Path, GroundTruth],
) -> None:
    root, truth = recording
    for fault in faults_of(truth, "corrupted_packets"):
        frames, errors = decode(root / fault.path)
        assert errors, "the decoder did not notice the damage"
        assert fault.frame_end % 20 == 0  # the span ends at the next keyframe
        # Compare with the same segment written without faults: identical outside the span.
        clean = _clean_copy(root, truth, fault)
        diffs = [np.abs(a[2].astype(int) - b[2]).mean() for a, b in zip(frames, clean, strict=True)]
        assert max(diffs[: fault.frame_start] + diffs[fault.frame_end :]) == 0
        assert min(diffs[fault.frame_start : fault.frame_end]) > 0.5


def test_truncated_files_lose_their_tail_or_everything(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    for fault in faults_of(truth, "truncated"):
        frames, errors = decode(root / fault.path)
        assert errors
        assert (root / fault.path).stat().st_size == fault.details["cut_at_byte"]
        if fault.variant == "index":
            assert frames == [] and (fault.frame_start, fault.frame_end) == (0, 100)
        else:
            assert len(frames) == fault.frame_start and fault.frame_end == 100
            assert [p for p, _, _ in frames] == [frame_pts(k) for k in range(fault.frame_start)]


def test_picture_faults_are_visible(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    for name in ("frozen", "black", "green", "blocky"):
        for fault in faults_of(truth, name):
            frames, errors = decode(root / fault.path)
            assert not errors and len(frames) == 100
            pictures = np.stack([rgb for _, _, rgb in frames]).astype(np.float32)
            span = pictures[fault.frame_start : fault.frame_end]
            before = pictures[: fault.frame_start]
            if name == "black":
                assert span.mean(axis=(1, 2, 3)).max() < 10 and before.mean() > 50
            elif name == "green":
                np.testing.assert_allclose(span.mean(axis=(0, 1, 2)), GREEN_RGB, atol=3)
            elif name == "blocky":
                block = fault.details["block"]
                blockiness = [
                    np.abs(blocky_picture(p.astype(np.uint8), block).astype(np.float32) - p).mean()
                    for p in pictures
                ]
                assert max(blockiness[fault.frame_start : fault.frame_end]) < 3
                assert min(blockiness[: fault.frame_start]) > 3 * max(
                    blockiness[fault.frame_start : fault.frame_end]
                )
            else:  # frozen: P-frames of a repeated picture converge to exact copies
                steps = np.abs(np.diff(pictures, axis=0)).mean(axis=(1, 2, 3))
                inside = steps[fault.frame_start - 1 : fault.frame_end - 1]
                keyframes = [k for k in range(fault.frame_start, fault.frame_end) if frames[k][1]]
                assert np.median(inside) < 0.05
                assert len([s for s in inside if s > 0.5]) <= len(keyframes) + 1
                assert np.median(steps[: fault.frame_start - 1]) > 0.5  # live video moves
                assert [p for p, _, _ in frames] == [frame_pts(k) for k in range(100)]


def test_timestamp_faults_go_backwards_or_repeat(recording: tuple[Path, GroundTruth]) -> None:
    root, truth = recording
    for fault in faults_of(truth, "timestamp"):
        frames, errors = decode(root / fault.path)
        assert not errors and len(frames) == 100
        stamps = [p for p, _, _ in frames]
        span = range(fault.frame_start, fault.frame_end)
        assert stamps[0] == 0
        assert [stamps[k] for k in range(100) if k not in span] == [
            frame_pts(k) for k in range(100) if k not in span
        ]
        if fault.variant == "repeat":
            assert all(stamps[k] == frame_pts(fault.frame_start - 1) for k in span)
        else:
            back = fault.details["shift_frames"]
            assert [stamps[k] for k in span] == [frame_pts(k - back) for k in span]
            assert stamps[fault.frame_start] < stamps[fault.frame_start - 1]


# ---- options, determinism, CLI ---------------------------------------------------------------


def test_same_seed_gives_identical_bytes_with_any_worker_count(tmp_path: Path) -> None:
    options = dict(
        cameras=1,
        minutes=0.5,
        faults="corrupted_packets,timestamp,truncated",
        seed=5,
        width=W,
        height=H,
    )
    first = synthesize(tmp_path / "a", workers=1, **options)
    second = synthesize(tmp_path / "b", workers=2, **options)
    assert first.to_dict() == second.to_dict()
    for name in [GROUND_TRUTH_NAME] + [s.path for s in first.segments]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    third = synthesize(tmp_path / "c", workers=1, **{**options, "seed": 6})
    assert [s.sha256 for s in third.segments] != [s.sha256 for s in first.segments]


def test_cadence_and_day_boundary(tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, 23, 59, 50, tzinfo=UTC)
    truth = synthesize(
        tmp_path / "r",
        cameras=1,
        minutes=0.5,
        faults="none",
        start=start,
        cadence_fps=9.6,
        width=W,
        height=H,
        workers=1,
    )
    assert [s.path for s in truth.segments] == [
        "2026-03-01/23/press-01/59.50.mp4",
        "2026-03-02/00/press-01/00.00.mp4",
        "2026-03-02/00/press-01/00.10.mp4",
    ]
    assert truth.cameras[0].cadence_fps == 9.6 and truth.cameras[0].nominal_fps == 10.0
    frames, errors = decode(tmp_path / "r" / truth.segments[1].path)
    assert not errors and len(frames) == 96  # 9.6 fps for 10 s
    assert [p for p, _, _ in frames] == [k * 9375 for k in range(96)]
    assert truth.faults == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(faults="smoke"), "unknown fault 'smoke'"),
        (dict(faults="black:0"), "count must be at least 1"),
        (dict(faults="all", minutes=0.5), "need at least"),
        (dict(cameras=0), "--cameras"),
        (dict(width=161), "even sizes"),
        (dict(cadence_fps=12.0), "--cadence-fps"),
    ],
)
def test_bad_options_are_user_errors(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        synthesize(tmp_path / "out", **{"minutes": 0.5, "width": W, "height": H, **options})


def test_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "old.mp4").write_bytes(b"x")
    with pytest.raises(UserError, match="not an empty directory"):
        synthesize(folder, minutes=0.5, width=W, height=H)
    assert [p.name for p in folder.iterdir()] == ["old.mp4"]


def test_cli_writes_files_and_reports_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(synth)
    app.command("noop")(lambda: None)  # a second command, so "synth" is a subcommand as in gapfill
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--out",
            str(out),
            "--cameras",
            "1",
            "--minutes",
            "0.5",
            "--faults",
            "black",
            "--width",
            str(W),
            "--height",
            str(H),
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["segments"] == 3 and summary["faults_by_kind"] == {"black": 1}
    assert Path(summary["ground_truth"]).is_file()
    help_text = CliRunner().invoke(app, ["synth", "--help"]).stdout
    assert "--faults" in help_text and "--cadence-fps" in help_text


def _clean_copy(
    root: Path, truth: GroundTruth, fault: FaultTruth
) -> list[tuple[int, bool, np.ndarray]]:
    """Decode the faulted segment as it would have been written without the fault."""
    from gapfill.synth.writer import SegmentJob, write_segment

    camera = next(c for c in truth.cameras if c.name == fault.camera)
    segment = next(s for s in truth.segments if s.path == fault.path)
    first = parse_iso_utc(truth.segments[0].start)
    start = parse_iso_utc(segment.start)
    out = root.parent / f"clean-{hashlib.sha1(fault.id.encode()).hexdigest()[:8]}"
    job = SegmentJob(
        out_dir=str(out),
        seed=truth.seed,
        camera_index=truth.cameras.index(camera),
        camera=camera,
        segment=round((start - first).total_seconds() / 10),
        start=start,
        frames=segment.planned_frames,
        first_scene_frame=round((start - first).total_seconds() * camera.cadence_fps),
        fault=None,
    )
    written, _ = write_segment(job)
    frames, errors = decode(out / written.path)
    assert not errors
    return frames
