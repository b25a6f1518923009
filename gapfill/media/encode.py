"""Write H.264 MP4 files frame by frame, with explicit timestamps, atomically.

`VideoWriter` is deliberately low level: the caller gives every frame its PTS in an explicit time
base, so it can write a regular camera cadence, an irregular one, or (for simulated faults) holes
and broken timestamps. Encoding and muxing are separate steps (`encode` returns packets, `mux`
writes one) so a caller can inspect or alter packets in between; `write` does both.

The file is written under a temporary name in the destination directory and only `os.replace`d to
its final name after the container is closed and fsynced: a crash or an exception inside the `with`
block never leaves a half-written file under the final name.

    with VideoWriter(path, width=640, height=360, fps=10.0, gop=20) as writer:
        for k, rgb in enumerate(frames):
            writer.write(rgb, pts=k * 9000)  # time base 1/90000: 9000 ticks = 0.1 s
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

# 90 kHz is the RTP/MPEG clock most IP cameras stamp frames with; it represents any common cadence
# (10 fps = 9000 ticks, 9.6 fps = 9375 ticks, 25 fps = 3600 ticks) exactly.
DEFAULT_TIME_BASE = Fraction(1, 90000)
# mkstemp creates 0600 files; recordings are meant to be readable by the other services.
FILE_MODE = 0o644


class VideoWriter:
    """One H.264 (libx264, yuv420p) video stream in an MP4 file.

    gop: keyframe interval in frames (fixed: scene-cut keyframes are disabled, as on cameras).
    bframes: 0 by default, so decode order equals presentation order and DTS == PTS, as with
      most IP cameras.
    threads: 1 by default; x264's output depends on its thread count, so a fixed count makes
      the bytes reproducible on any machine.
    metadata: container tags, e.g. {"creation_time": "2026-01-05T06:59:00.000000Z"}.
    faststart: put the index (moov) before the media data (a second pass over the file).
    x264_params: extra libx264 options, "key=value:key=value".
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: float,
        gop: int,
        time_base: Fraction = DEFAULT_TIME_BASE,
        crf: int = 23,
        preset: str = "veryfast",
        bframes: int = 0,
        threads: int = 1,
        metadata: Mapping[str, str] | None = None,
        faststart: bool = False,
        x264_params: str = "",
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(
                f"{path}: yuv420p needs an even width and height, got {width}x{height}"
            )
        self.path = Path(path)
        self.width = width
        self.height = height
        self.time_base = time_base
        descriptor, temp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
        )
        os.close(descriptor)
        os.chmod(temp_name, FILE_MODE)
        self._temp_path = Path(temp_name)
        options = {"movflags": "+faststart"} if faststart else {}
        self._container = av.open(str(self._temp_path), mode="w", format="mp4", options=options)
        for key, value in (metadata or {}).items():
            self._container.metadata[key] = value

        stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        context = stream.codec_context
        context.time_base = time_base
        context.gop_size = gop
        context.thread_count = threads
        context.options = {
            "preset": preset,
            "crf": str(crf),
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:threads={threads}"
                + (f":{x264_params}" if x264_params else "")
            ),
        }
        self._stream = stream
        self._flushed = False
        self._closed = False

    @property
    def stream(self) -> av.video.stream.VideoStream:
        return self._stream

    def encode(self, rgb: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode one RGB uint8 frame of shape (height, width, 3) shown at `pts` (time_base units).

        Returns the packets the encoder emitted (possibly none yet); they are not muxed.
        """
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: expected a ({self.height}, {self.width}, 3) uint8 frame, "
                f"got {rgb.shape} {rgb.dtype}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        return list(self._stream.encode(frame))

    def flush(self) -> list[av.Packet]:
        """Drain the encoder: the packets of frames it still holds, not muxed. Only once."""
        if self._flushed:
            return []
        self._flushed = True
        return list(self._stream.encode(None))

    def mux(self, packet: av.Packet) -> None:
        """Write one packet (from `encode`, or built by the caller) into the file."""
        packet.stream = self._stream
        self._container.mux(packet)

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode and mux one frame."""
        for packet in self.encode(rgb, pts):
            self.mux(packet)

    def close(self) -> Path:
        """Flush, finish the file, fsync it and move it to its final name. Returns that name."""
        if self._closed:
            return self.path
        for packet in self.flush():
            self.mux(packet)
        self._container.close()
        self._closed = True
        _fsync_file(self._temp_path)
        os.replace(self._temp_path, self.path)
        fsync_directory(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Discard the file: nothing appears under the final name."""
        if self._closed:
            return
        self._closed = True
        # the container may be unusable after the error that made us abort
        with contextlib.suppress(av.FFmpegError, ValueError):
            self._container.close()
        self._temp_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory, fsync and rename."""
    path = Path(path)
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part"
    )
    try:
        os.chmod(temp_name, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_directory(path: Path) -> None:
    """Make a rename in `path` durable (the directory entry itself); not every filesystem allows
    opening a directory, so failing to is not an error."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
