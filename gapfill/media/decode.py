"""Decoding built for analysis: every frame of a file, as cheaply as the damage can still be seen.

The detectors need, per frame, its timestamp, whether the decoder had to conceal errors in it, and a
small picture (luma, and chroma at half that size). They never need full-size RGB, so frames go
straight from the decoder to a small YUV picture in FFmpeg's own scaler (integer factor, area
averaging, so 8x8 coding blocks stay aligned on a 8/f grid for the blockiness detector).

FFmpeg's error messages are captured (PyAV's log capture, all threads) and attached to the packet
that was being fed when they were logged. With frame threading the decoder runs a few packets behind
the feeder, so a message can be attached up to `thread_count` packets late; the frame-level flag
(`decode_ok`, from FFmpeg's corrupt / decode_error_flags) is exact and is what the detectors use for
edges.

Nothing here raises on bad input: a missing, zero-byte, garbage or truncated file gives a
`DecodeResult` whose `status` and `reason` say what happened, with whatever frames were decodable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import av.logging
import numpy as np

# FFmpeg log levels (libavutil/log.h): everything at or below ERROR is a decode problem.
_AV_LOG_ERROR = 16


@dataclass(frozen=True)
class PacketRecord:
    """One demuxed packet of the video stream."""

    index: int
    pts: int | None
    dts: int | None
    size: int
    keyframe: bool
    # FFmpeg error messages logged while this packet was being decoded (see module docstring).
    errors: tuple[str, ...] = ()


@dataclass
class FrameBatch:
    """Consecutive decoded frames in presentation order, at analysis size.

    N frames; luma is (N, H, W) uint8; chroma is (N, 2, H/2, W/2) uint8 (U then V).
    """

    pts: np.ndarray  # (N,) int64, stream time base
    time: np.ndarray  # (N,) float64 seconds (pts * time_base)
    keyframe: np.ndarray  # (N,) bool
    decode_ok: np.ndarray  # (N,) bool: False when FFmpeg flagged the frame corrupt/concealed
    luma: np.ndarray  # (N, H, W) uint8
    chroma: np.ndarray  # (N, 2, H/2, W/2) uint8

    def __len__(self) -> int:
        return len(self.pts)

    @staticmethod
    def concatenate(batches: list[FrameBatch]) -> FrameBatch | None:
        if not batches:
            return None
        return FrameBatch(
            pts=np.concatenate([b.pts for b in batches]),
            time=np.concatenate([b.time for b in batches]),
            keyframe=np.concatenate([b.keyframe for b in batches]),
            decode_ok=np.concatenate([b.decode_ok for b in batches]),
            luma=np.concatenate([b.luma for b in batches]),
            chroma=np.concatenate([b.chroma for b in batches]),
        )


@dataclass
class DecodeResult:
    """What decoding one file found, apart from the pictures themselves."""

    path: str
    # "ok": opened and decoded to the end (errors inside are listed, not fatal);
    # "truncated": the container or stream ended abruptly; "unreadable": nothing decodable.
    status: str = "ok"
    reason: str | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    analysis_width: int = 0
    analysis_height: int = 0
    # Nominal frame rate from the container (average_rate), if it states one.
    nominal_fps: float | None = None
    time_base: float = 0.0
    # True when luma is full range (0-255); False for the usual limited range (16-235).
    full_range: bool = False
    # Container duration in seconds (from the index/header), if known.
    container_duration: float | None = None
    packets: list[PacketRecord] = field(default_factory=list)
    frames_decoded: int = 0
    frames_corrupt: int = 0
    thread_count: int = 1

    @property
    def error_messages(self) -> list[str]:
        return [message for packet in self.packets for message in packet.errors]

    @property
    def readable(self) -> bool:
        return self.status != "unreadable"


def analysis_scale(width: int, height: int, short_side: int) -> int:
    """The integer downscale factor (1, 2 or 4) that brings the short side near `short_side`.

    Powers of two only, at most 4: an 8x8 coding block then maps onto a 2x2 or larger block of the
    analysis picture, exactly aligned, so block edges stay measurable."""
    factor = 1
    while factor < 4 and min(width, height) / (factor * 2) >= short_side:
        factor *= 2
    return factor


class AnalysisDecoder:
    """Decode one file for analysis. Iterate `batches()`; afterwards `result` holds the rest.

    >>> decoder = AnalysisDecoder("cam/2024-01-01/10/00.00.mp4")
    >>> for batch in decoder.batches(): ...
    >>> decoder.result.status
    """

    def __init__(self, path: str | os.PathLike[str], short_side: int = 144, batch_size: int = 64):
        self.path = str(path)
        self.short_side = short_side
        self.batch_size = batch_size
        self.result = DecodeResult(path=self.path)

    def batches(self) -> Iterator[FrameBatch]:
        result = self.result
        try:
            size = os.path.getsize(self.path)
        except OSError as exc:
            result.status, result.reason = "unreadable", f"cannot read file: {exc.strerror}"
            return
        if size == 0:
            result.status, result.reason = "unreadable", "zero-byte file"
            return
        # FFmpeg's log reaches Python only while this decoder runs: with logging left on, every
        # decoder thread in the process (a repair, the API's frame viewer) calls back into Python
        # for each message and can deadlock on the GIL against a thread converting a frame.
        previous_level = av.logging.get_level()
        previous_skip = av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)
        # Every message counts: a damaged packet often logs the same line as the one before it
        # (or as another file decoded earlier in this process), which PyAV would otherwise drop.
        av.logging.set_skip_repeated(False)
        try:
            # local=False: frame-threaded decoders log from their worker threads.
            with av.logging.Capture(local=False) as logs:
                try:
                    container = av.open(self.path)
                except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
                    result.status, result.reason = "unreadable", _describe(exc)
                    return
                try:
                    yield from self._decode(container, logs)
                finally:
                    container.close()
        finally:
            av.logging.set_level(previous_level)
            av.logging.set_skip_repeated(previous_skip)

    def _decode(self, container: av.container.InputContainer, logs: list) -> Iterator[FrameBatch]:
        result = self.result
        if not container.streams.video:
            result.status, result.reason = "unreadable", "no video stream"
            return
        stream = container.streams.video[0]
        codec = stream.codec_context
        codec.thread_type = "AUTO"
        result.codec = codec.name
        result.width, result.height = codec.width, codec.height
        result.time_base = float(stream.time_base) if stream.time_base else 0.0
        if stream.average_rate:
            result.nominal_fps = float(stream.average_rate)
        if container.duration:
            result.container_duration = container.duration / av.time_base
        result.thread_count = codec.thread_count
        if not result.width or not result.height:
            result.status, result.reason = "unreadable", "video stream has no picture size"
            return

        factor = analysis_scale(result.width, result.height, self.short_side)
        # Even sizes, so the 4:2:0 chroma planes are exactly half.
        width = max(2, (result.width // factor) & ~1)
        height = max(2, (result.height // factor) & ~1)
        result.analysis_width, result.analysis_height = width, height

        pending = _BatchBuilder(width, height, result.time_base)
        packet_index = 0
        # Messages are read from a cursor that only moves forward: a decoder thread can log while
        # this thread is between two packets, and that message belongs to the next.
        seen = len(logs)
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                    error = None
                except av.FFmpegError as exc:
                    frames, error = [], _describe(exc)
                fresh = logs[seen:]
                seen += len(fresh)
                messages = [m for level, _, m in fresh if level <= _AV_LOG_ERROR]
                if error:
                    messages.append(error)
                if packet.size or messages:
                    result.packets.append(
                        PacketRecord(
                            index=packet_index,
                            pts=packet.pts,
                            dts=packet.dts,
                            size=packet.size,
                            keyframe=packet.is_keyframe,
                            errors=tuple(m.strip() for m in messages),
                        )
                    )
                    packet_index += 1
                for frame in frames:
                    if not result.frames_decoded:
                        result.full_range = frame.color_range == 2  # AVCOL_RANGE_JPEG
                    pending.add(frame)
                    result.frames_decoded += 1
                    if pending.full(self.batch_size):
                        yield pending.take()
        except av.FFmpegError as exc:
            # The demuxer gave up mid-file: a cut-off or damaged container.
            result.status, result.reason = "truncated", f"container ends abruptly: {_describe(exc)}"
        late = [m.strip() for level, _, m in logs[seen:] if level <= _AV_LOG_ERROR]
        if late and result.packets:  # logged by a decoder thread after the last packet was fed
            last = result.packets[-1]
            result.packets[-1] = dataclasses.replace(last, errors=last.errors + tuple(late))
        if len(pending):
            yield pending.take()
        result.frames_corrupt = pending.corrupt
        if result.frames_decoded == 0:
            result.status = "unreadable"
            result.reason = result.reason or "no decodable video frames"


class _BatchBuilder:
    """Accumulates decoded frames into arrays at analysis size."""

    def __init__(self, width: int, height: int, time_base: float) -> None:
        self.width, self.height, self.time_base = width, height, time_base
        self.corrupt = 0
        self._reset()

    def _reset(self) -> None:
        self.pts: list[int] = []
        self.keyframe: list[bool] = []
        self.decode_ok: list[bool] = []
        self.pictures: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.pts)

    def full(self, batch_size: int) -> bool:
        return len(self.pts) >= batch_size

    def add(self, frame: av.VideoFrame) -> None:
        pts = frame.pts if frame.pts is not None else frame.dts
        self.pts.append(pts if pts is not None else -1)
        self.keyframe.append(bool(frame.key_frame))
        ok = not frame.is_corrupt
        self.decode_ok.append(ok)
        self.corrupt += not ok
        small = frame.reformat(self.width, self.height, "yuv420p", interpolation="AREA")
        # (H * 3/2, W): the Y plane followed by the U and V planes.
        self.pictures.append(small.to_ndarray())

    def take(self) -> FrameBatch:
        h, w = self.height, self.width
        planes = np.stack(self.pictures)  # (N, H*3/2, W)
        n = len(planes)
        chroma = planes[:, h:].reshape(n, 2, h // 2, w // 2)
        pts = np.asarray(self.pts, dtype=np.int64)
        batch = FrameBatch(
            pts=pts,
            time=pts * self.time_base,
            keyframe=np.asarray(self.keyframe, dtype=bool),
            decode_ok=np.asarray(self.decode_ok, dtype=bool),
            luma=np.ascontiguousarray(planes[:, :h]),
            chroma=np.ascontiguousarray(chroma),
        )
        self._reset()
        return batch


def decode_for_analysis(
    path: str | os.PathLike[str], short_side: int = 144
) -> tuple[DecodeResult, FrameBatch | None]:
    """Decode a whole file into one batch (for short files and tests)."""
    decoder = AnalysisDecoder(path, short_side=short_side)
    frames = FrameBatch.concatenate(list(decoder.batches()))
    return decoder.result, frames


def _describe(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError):
        text = exc.strerror or str(exc)
        log = getattr(exc, "log", None)
        if log and len(log) >= 3 and log[2]:
            text = f"{text} ({log[2].strip()})"
        return text
    return str(exc)
