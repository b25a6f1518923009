"""Small generated clips with known faults, and the analysis decoder's handling of them.

`write_clip` draws a tiny fixed-camera scene (smooth texture, sensor noise, optionally a moving
block) and encodes it with PyAV/libx264 (no B-frames, fixed GOP), applying faults in the picture
(frozen, black, green, blocky), in the timestamps (dropped frames, a stuck clock) or in the packets
(bytes scrambled). test_detect_scan.py builds recordings trees from these clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from gapfill.media.decode import AnalysisDecoder, analysis_scale, decode_for_analysis

WIDTH, HEIGHT, FPS, GOP = 160, 96, 10, 10
TICKS = 10240  # timestamp ticks per second
# Decode timestamps run this many frames behind, so a stuck clock's pts stays >= dts in MP4.
DTS_LAG = 4


@dataclass
class Faults:
    """Frame ranges (end exclusive) of each fault to inject."""

    frozen: list[tuple[int, int]] = field(default_factory=list)  # repeat the frame before
    black: list[tuple[int, int]] = field(default_factory=list)
    green: list[tuple[int, int]] = field(default_factory=list)
    blocky: list[tuple[int, int]] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)  # never encoded
    stuck_clock: list[tuple[int, int]] = field(default_factory=list)  # pts of the frame before
    corrupt: list[int] = field(default_factory=list)  # frames whose packet is scrambled


def _inside(i: int, ranges: list[tuple[int, int]]) -> bool:
    return any(a <= i < b for a, b in ranges)


def make_background(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([60 + xx * 0.8, 70 + yy * 0.9, 90 + (xx + yy) * 0.3], axis=-1)
    # Smooth texture (blurred noise): no edges on the 8x8 coding grid of its own.
    texture = cv2.GaussianBlur(rng.normal(0, 40, (HEIGHT, WIDTH, 3)), (0, 0), 2.0)
    return np.clip(base + texture, 0, 255).astype(np.float32)


def scene_frame(
    i: int, motion: bool, rng: np.random.Generator, background: np.ndarray
) -> np.ndarray:
    """(H, W, 3) uint8: the static background, sensor noise, optionally a moving block."""
    frame = background.copy()
    if motion:
        x = (i * 4) % (WIDTH - 24)
        frame[30:54, x : x + 24] = (230, 200, 40)
    noise = rng.normal(0.0, 3.0, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    frames: int = 60,
    faults: Faults | None = None,
    motion: bool = True,
    fps: float = FPS,
    cadence: float | None = None,
    seed: int = 0,
    faststart: bool = False,
) -> Path:
    """Encode a clip. `fps` is what the stream states; timestamps follow `cadence` (default fps)."""
    faults = faults or Faults()
    cadence = cadence or fps
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    background = make_background(seed)
    options = {"movflags": "+faststart"} if faststart else {}
    container = av.open(str(path), "w", options=options)
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    # Timestamps at the cadence need a finer clock than 1/fps.
    stream.codec_context.time_base = Fraction(1, TICKS)
    stream.codec_context.options = {
        "preset": "ultrafast",
        "g": str(GOP),
        "keyint_min": str(GOP),
        "sc_threshold": "0",
        "bf": "0",
        "crf": "18",
    }
    previous = None
    for i in range(frames):
        picture = scene_frame(i, motion, rng, background)
        if _inside(i, faults.frozen) and previous is not None:
            picture = previous
        if _inside(i, faults.black):
            picture = np.full_like(picture, 4)
        if _inside(i, faults.blocky):
            blocks = picture.reshape(HEIGHT // 8, 8, WIDTH // 8, 8, 3).mean(axis=(1, 3))
            picture = blocks.repeat(8, 0).repeat(8, 1).astype(np.uint8)
        previous = picture
        if _inside(i, faults.dropped):
            continue
        if _inside(i, faults.green):
            yuv = np.zeros((HEIGHT * 3 // 2, WIDTH), np.uint8)  # Y=U=V=0: bright green
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = round(i * TICKS / cadence)
        frame.time_base = Fraction(1, TICKS)
        for packet in stream.encode(frame):
            _mux(container, packet, faults, cadence)
    for packet in stream.encode():
        _mux(container, packet, faults, cadence)
    container.close()
    return path


def _mux(
    container: av.container.OutputContainer, packet: av.Packet, faults: Faults, cadence: float
) -> None:
    index = round(float(packet.pts * packet.time_base) * cadence)
    step = float(1 / (cadence * packet.time_base))
    packet.dts = round((index - DTS_LAG) * step)
    if index in faults.corrupt:
        data = bytearray(bytes(packet))
        rng = np.random.default_rng(index)
        # Every fifth byte of the slice data replaced: the decoder trips over it (a wholly random
        # payload can parse as a valid, empty slice that no decoder notices).
        spots = slice(12, None, 5)
        data[spots] = rng.integers(0, 256, len(data[spots]), dtype=np.uint8).tobytes()
        scrambled = av.Packet(bytes(data))
        scrambled.pts, scrambled.dts = packet.pts, packet.dts
        scrambled.time_base, scrambled.is_keyframe = packet.time_base, packet.is_keyframe
        scrambled.stream = packet.stream
        packet = scrambled
    if _inside(index, faults.stuck_clock):
        first = next(a for a, b in faults.stuck_clock if a <= index < b)
        packet.pts = round((first - 1) * step)
    container.mux(packet)


def cut_inside_frame(path: Path, frame: int, out: Path) -> Path:
    """A copy of `path` cut halfway through the data of `frame` (a recorder that died)."""
    with av.open(str(path)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    position, size = spans[frame]
    out.write_bytes(path.read_bytes()[: position + size // 2])
    return out


# ---- the decoder ---------------------------------------------------------------------------------


def test_decodes_every_frame_at_analysis_size(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", frames=30)
    result, frames = decode_for_analysis(clip, short_side=48)
    assert result.status == "ok" and result.frames_decoded == 30
    assert frames is not None
    # 96 / 2 = 48: one halving, exact, so 8x8 blocks stay on a 4-pixel grid.
    assert frames.luma.shape == (30, 48, 80) and frames.chroma.shape == (30, 2, 24, 40)
    assert np.allclose(np.diff(frames.time), 0.1, atol=1e-3)
    assert frames.keyframe[::GOP].all() and not frames.keyframe[1:GOP].any()
    assert frames.decode_ok.all()


def test_analysis_scale_keeps_block_grid() -> None:
    assert analysis_scale(160, 96, 144) == 1
    assert analysis_scale(640, 360, 144) == 2
    assert analysis_scale(1920, 1080, 144) == 4  # capped: an 8x8 block is still 2x2 pixels


def test_scrambled_packet_is_flagged_with_ffmpeg_messages(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=30, faults=Faults(corrupt=[13]))
    result, frames = decode_for_analysis(clip)
    assert result.status == "ok"
    assert frames is not None and not frames.decode_ok[13]
    assert result.error_messages, "FFmpeg's error log was not captured"


def test_bad_files_never_raise(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    whole = write_clip(tmp_path / "whole.mp4", frames=30)
    cut_index = tmp_path / "cut.mp4"
    cut_index.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # moov lost
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    cases = {
        empty: "zero-byte",
        garbage: "invalid data",
        cut_index: "moov atom not found",
        text: "invalid data",
        tmp_path / "absent.mp4": "no such file",
    }
    for path, reason in cases.items():
        decoder = AnalysisDecoder(path)
        assert list(decoder.batches()) == []
        assert decoder.result.status == "unreadable", path
        assert reason in (decoder.result.reason or "").lower(), (path, decoder.result.reason)


def test_file_cut_inside_a_frame_decodes_up_to_the_cut(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.mp4", frames=40, faststart=True)
    cut = cut_inside_frame(whole, 25, tmp_path / "cut.mp4")
    result, frames = decode_for_analysis(cut)
    assert result.readable
    assert frames is not None and 24 <= len(frames) <= 25
