"""`gapfill fill` on a file: find or take the holes, fill them with MALT, write every frame.

The input's frames are placed on its nominal-rate timeline by their timestamps; timeline slots
with no frame are holes (or the --span ranges are). Each hole is filled from the real frames
around it with `fill_hole` (fill_gap, and what made the frames), and the output is written with a
frame in every slot. An evaluation artefact: the synthetic-frame marks and provenance come with
the repair pipeline; the report says per hole whether the model's learned change is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from gapfill.errors import UserError
from gapfill.fill.fill_gap import DEFAULT_MEMORY_BUDGET, fill_hole
from gapfill.media.encode import VideoWriter

BEFORE_FRAMES = 64
AFTER_FRAMES = 32
MP4_SUFFIXES = (".mp4", ".m4v", ".mov")  # names players take for what VideoWriter writes


@dataclass(frozen=True)
class FillReport:
    frames: int  # frames written
    filled: int  # of which predicted
    holes: tuple[tuple[int, int], ...]  # [start, end) frame ranges filled
    # per hole, what made its frames: fill_gap.KEPT, DROPPED, NO_CHECK_CONTEXT (see FilledHole)
    model_changes: tuple[str, ...] = ()


def parse_spans(spans: list[str], n_frames: int) -> list[tuple[int, int]]:
    """["10:20", ...] -> [(10, 20), ...], checked against the timeline's length."""
    parsed = []
    for text in spans:
        try:
            start, end = (int(part) for part in text.split(":", 1))
        except ValueError:
            raise UserError(f"--span: expected START:END frame numbers, got {text!r}") from None
        if end <= start:
            raise UserError(f"--span: {text} ends before it starts (END is exclusive)")
        if start < 0 or end > n_frames:
            raise UserError(f"--span: {text} is outside the timeline's frames 0:{n_frames}")
        parsed.append((start, end))
    return parsed


def merge_holes(holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) ranges in time order, those that overlap or touch made one: filling them one
    by one would predict some frames twice, each time with the other's frames counted missing."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(holes):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def read_timeline(path: Path, memory_budget: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Decode `path` onto its nominal-rate timeline: (frames (N,H,W,3), present (N,) bool, fps).

    The nominal rate is the median spacing of the timestamps (the container's average rate is
    lowered by the very holes we look for); frame i sits at slot round((t_i - t_0) * fps).
    """
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    times: list[float] = []
    decoded: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path}: no video stream")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                if (len(decoded) + 1) * rgb.nbytes > memory_budget:
                    raise UserError(f"{path}: too long to fill in memory; cut it into parts")
                times.append(float(frame.pts * frame.time_base))
                decoded.append(rgb)
            rate = stream.average_rate or stream.guessed_rate
    except av.FFmpegError as exc:
        raise UserError(f"{path}: cannot decode video ({exc})") from None
    if not decoded:
        raise UserError(f"{path}: no video frames")
    spacing = np.diff(np.asarray(times))
    spacing = spacing[spacing > 0]
    if len(spacing):
        fps = 1.0 / float(np.median(spacing))
    elif rate:
        fps = float(rate)
    else:
        raise UserError(f"{path}: cannot tell the frame rate from one frame without a rate")
    slots = np.rint((np.asarray(times) - times[0]) * fps).astype(np.int64)
    n_frames = int(slots.max()) + 1
    if n_frames * decoded[0].nbytes > memory_budget:
        raise UserError(f"{path}: timeline of {n_frames} frames is too long to fill in memory")
    frames = np.zeros((n_frames, *decoded[0].shape), np.uint8)
    present = np.zeros(n_frames, bool)
    for slot, rgb in zip(slots, decoded, strict=True):
        if slot >= 0 and not present[slot]:
            frames[slot] = rgb
            present[slot] = True
    return frames, present, fps


def missing_runs(present: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of False in `present`."""
    padded = np.concatenate([[True], present, [True]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]


def fill_file(
    input: Path,
    output: Path,
    spans: list[str],
    model: Path | None = None,
    seed: int = 0,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> FillReport:
    input, output = Path(input), Path(output)
    if output.resolve() == input.resolve():
        raise UserError(
            f"{output}: the output would overwrite the input; originals are never touched"
        )
    if output.suffix.lower() not in MP4_SUFFIXES:
        raise UserError(f"{output}: the output is H.264 in MP4; give it a name ending in .mp4")
    if not output.parent.is_dir():
        raise UserError(f"{output.parent}: output folder does not exist")
    frames, present, fps = read_timeline(input, memory_budget)
    # The timeline's own holes are filled too: the output has every frame at the nominal rate.
    holes = merge_holes(parse_spans(spans, len(frames)) + missing_runs(present))
    for start, end in holes:
        present[start:end] = False
    filled, model_changes = 0, []
    for start, end in holes:
        before = _real_run(frames, present, start - 1, -1, BEFORE_FRAMES)
        after = _real_run(frames, present, end, 1, AFTER_FRAMES)
        if len(before) == 0 and len(after) == 0:
            raise UserError(f"{input}: frames {start}:{end} have no real frame on either side")
        hole = fill_hole(before, after, end - start, fps, model=model, seed=seed)
        frames[start:end] = hole.frames
        model_changes.append(hole.model_change)
        filled += end - start
    height, width = frames.shape[1:3]
    step = 90000 / fps
    with VideoWriter(
        output,
        width=width - width % 2,
        height=height - height % 2,
        fps=fps,
        gop=max(1, round(2 * fps)),
    ) as writer:
        for k, rgb in enumerate(frames):
            writer.write(
                np.ascontiguousarray(rgb[: height - height % 2, : width - width % 2]),
                round(k * step),
            )
    return FillReport(len(frames), filled, tuple(holes), tuple(model_changes))


def _real_run(
    frames: np.ndarray, present: np.ndarray, edge: int, direction: int, limit: int
) -> np.ndarray:
    """The consecutive real frames next to a hole, in time order, at most `limit`."""
    indices = []
    k = edge
    while 0 <= k < len(frames) and present[k] and len(indices) < limit:
        indices.append(k)
        k += direction
    indices.sort()
    return frames[indices] if indices else frames[:0]
