"""Full-resolution RGB frames of a time window of one recording, for repairs; resizing them.

Detectors decode for analysis (small, luma, fast: media/decode.py); a repair needs the real
pixels of the context around a span, at source resolution, with each frame's presentation time.
`resize_frames` brings frames to another size (the model's working size, training shots).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from gapfill.errors import UserError


@dataclass(frozen=True)
class TimedFrames:
    """Frames (T, H, W, 3) uint8 RGB and their times in seconds from the file's first frame."""

    times: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def read_frames(
    path: Path,
    start_s: float = 0.0,
    end_s: float = float("inf"),
    size: tuple[int, int] | None = None,
) -> TimedFrames:
    """Decode the frames whose time (from the file's first frame) lies in [start_s, end_s).

    Frames that fail to decode are skipped, never raised: a damaged recording still gives its
    good frames as context. A file that cannot be opened at all is a UserError naming it.
    `size` (height, width) scales each frame as it is decoded (area filter), so a long recording
    read for training never holds its full-resolution frames at once.
    """
    scale = {} if size is None else {"height": size[0], "width": size[1], "interpolation": "AREA"}
    times: list[float] = []
    frames: list[np.ndarray] = []
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise UserError(f"{path}: cannot open recording: {exc}") from None
    with container:
        if not container.streams.video:
            raise UserError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        first_pts: int | None = None
        # Seeking needs the first PTS; the container's start_time gives it without decoding.
        if container.start_time is not None and stream.start_time is not None:
            first_pts = stream.start_time
        if start_s > 0 and first_pts is not None:
            target = first_pts + int(start_s / float(time_base))
            container.seek(target, stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:
                continue  # a damaged packet: skip it, keep its neighbours
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue
            for frame in decoded:
                if frame.pts is None:
                    continue
                if first_pts is None:
                    first_pts = frame.pts
                t = float((frame.pts - first_pts) * time_base)
                if t >= end_s:
                    return _stack(times, frames)
                if t >= start_s - 1e-6:
                    times.append(t)
                    frames.append(frame.to_ndarray(format="rgb24", **scale))
    return _stack(times, frames)


def _stack(times: list[float], frames: list[np.ndarray]) -> TimedFrames:
    if not frames:
        return TimedFrames(np.zeros(0), np.zeros((0, 0, 0, 3), np.uint8))
    return TimedFrames(np.asarray(times), np.stack(frames))


def resize_frames(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize (T,H,W,3) frames. `size` is the short side (aspect kept, even sizes) or (H, W)."""
    height, width = frames.shape[1:3]
    if isinstance(size, int):
        scale = size / min(height, width)
        out_h = max(2, round(height * scale / 2) * 2)
        out_w = max(2, round(width * scale / 2) * 2)
    else:
        out_h, out_w = size
    if (out_h, out_w) == (height, width):
        return frames
    # INTER_AREA averages when shrinking (no aliasing); cubic when enlarging.
    interp = cv2.INTER_AREA if out_h < height else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (out_w, out_h), interpolation=interp) for f in frames])
