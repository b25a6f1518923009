"""What a recording file holds, read with PyAV without decoding pictures.

Counting packets (demux only) gives the frame count and the real time span cheaply; decoding is the
detectors' job. A file PyAV cannot open is reported with FFmpeg's reason, never raised past here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Probe:
    """Facts about one file. `error` is set (and the rest mostly empty) when it is unreadable."""

    duration_s: float = 0.0
    frame_count: int = 0
    fps: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    creation_time: dt.datetime | None = None
    error: str | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_creation_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def probe(path: Path) -> Probe:
    """Probe a video file: codec, size, frame count, duration and the start time it claims."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                return Probe(error="no video stream")
            stream = container.streams.video[0]
            time_base = stream.time_base or Fraction(1, 90000)
            first_pts: int | None = None
            last_pts: int | None = None
            count = 0
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue  # the flush packet at the end, or a packet without a time
                count += 1
                first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
                last_pts = packet.pts if last_pts is None else max(last_pts, packet.pts)
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            if count == 0 or first_pts is None or last_pts is None:
                return Probe(codec=stream.codec_context.name, error="no video frames")
            # The last frame lasts one frame interval: a 100-frame 10 fps file spans 10 s.
            frame_s = 1.0 / fps if fps else 0.0
            duration = float((last_pts - first_pts) * time_base) + frame_s
            return Probe(
                duration_s=duration,
                frame_count=count,
                fps=fps,
                codec=stream.codec_context.name,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                creation_time=_parse_creation_time(container.metadata.get("creation_time")),
            )
    except av.FFmpegError as exc:
        return Probe(error=_ffmpeg_reason(exc))
    except (OSError, ValueError, EOFError) as exc:
        return Probe(error=str(exc) or type(exc).__name__)


def _ffmpeg_reason(exc: av.FFmpegError) -> str:
    # PyAV's message repeats the path; keep FFmpeg's own words only.
    strerror = getattr(exc, "strerror", None)
    return strerror or str(exc)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The container tags of a file, as PyAV reads them back."""
    with av.open(str(path)) as container:
        return dict(container.metadata)
