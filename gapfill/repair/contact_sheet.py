"""A PNG contact sheet of a flagged clip, for a person to judge a reconstruction at a glance.

Read from the written clip itself (so it shows exactly what a player shows, marks included):
the real frames just before the first synthetic range, synthetic frames sampled evenly across
all ranges, and the real frames just after the last range, in time order in a grid. Synthetic
tiles get a thick magenta outline and a "SYNTHETIC" caption; every tile is captioned with its
wall-clock time and frame number.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import av
import cv2
import numpy as np

from gapfill.fill.fill_gap import describe_model_change
from gapfill.media.encode import atomic_write_bytes
from gapfill.provenance.facts import ClipProvenance
from gapfill.repair.marks import MARK_COLOUR

BACKGROUND = (24, 24, 24)
REAL_CAPTION = (220, 220, 220)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def pick_frames(
    provenance: ClipProvenance, frame_count: int, context: int, synthetic: int
) -> list[int]:
    """Frame indices to show, in order: `context` real frames before the first range, up to
    `synthetic` synthetic frames spread over all ranges, `context` real frames after the last."""
    ranges = sorted(provenance.synthetic_ranges, key=lambda r: r.frame_start)
    if not ranges:
        return list(np.linspace(0, frame_count - 1, min(frame_count, synthetic), dtype=int))
    first, last = ranges[0].frame_start, ranges[-1].frame_end
    before = list(range(max(0, first - context), first))
    after = list(range(last, min(frame_count, last + context)))
    synthetic_indices = np.concatenate([np.arange(r.frame_start, r.frame_end) for r in ranges])
    chosen = np.linspace(0, len(synthetic_indices) - 1, min(len(synthetic_indices), synthetic))
    middle = [int(synthetic_indices[round(i)]) for i in chosen]
    return before + middle + after


def write_contact_sheet(
    clip_path: str | os.PathLike[str],
    sheet_path: str | os.PathLike[str],
    provenance: ClipProvenance,
    *,
    context: int = 4,
    synthetic: int = 8,
    columns: int = 4,
    tile_width: int = 320,
) -> Path:
    """Write the contact sheet of `clip_path` to `sheet_path` (PNG, atomically)."""
    clip_path, sheet_path = Path(clip_path), Path(sheet_path)
    with av.open(str(clip_path)) as container:
        stream = container.streams.video[0]
        frame_count = stream.frames or 0
        if frame_count <= 0:  # no count in the header: decode once to count
            frame_count = sum(1 for _ in container.decode(stream))
            container.seek(0)
        wanted = pick_frames(provenance, frame_count, context, synthetic)
        if not wanted:
            raise ValueError(f"{clip_path}: no frames to show")
        wanted_set = set(wanted)
        tiles: dict[int, tuple[np.ndarray, float]] = {}
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted_set:
                tiles[index] = (frame.to_ndarray(format="rgb24"), float(frame.time or 0.0))
            if index >= max(wanted):
                break
    synthetic_set = {
        i for r in provenance.synthetic_ranges for i in range(r.frame_start, r.frame_end)
    }
    rendered = [
        _tile(
            image,
            index,
            provenance.clip_start + dt.timedelta(seconds=seconds),
            index in synthetic_set,
            tile_width,
        )
        for index in wanted
        if index in tiles
        for image, seconds in [tiles[index]]
    ]
    sheet = _grid(rendered, columns, _header(provenance, clip_path), tile_width)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{sheet_path}: PNG encoding failed")
    atomic_write_bytes(sheet_path, png.tobytes())
    return sheet_path


def _tile(
    image: np.ndarray, index: int, when: dt.datetime, synthetic: bool, width: int
) -> np.ndarray:
    """One captioned thumbnail (H, width, 3); synthetic ones outlined."""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    thumb = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    caption_h = 22
    tile = np.full((height + caption_h, width, 3), BACKGROUND, np.uint8)
    tile[:height] = thumb
    kind = "SYNTHETIC" if synthetic else "real"
    colour = MARK_COLOUR if synthetic else REAL_CAPTION
    text = f"{kind} #{index} {when.strftime('%H:%M:%S')}.{when.microsecond // 1000:03d}"
    cv2.putText(tile, text, (4, height + 16), FONT, 0.45, colour, 1, cv2.LINE_AA)
    if synthetic:
        cv2.rectangle(tile, (0, 0), (width - 1, height + caption_h - 1), MARK_COLOUR, 4)
    return tile


def _header(provenance: ClipProvenance, clip_path: Path) -> list[str]:
    """Two lines: what the clip is, and what made its synthetic frames."""
    spans = ", ".join(r.describe() for r in provenance.synthetic_ranges)
    made_by = describe_model_change(provenance.parameters.get("model_change"))
    return [
        f"{clip_path.name}  camera {provenance.camera}  SYNTHETIC {spans}  "
        f"model {provenance.model_name}  provenance {provenance.provenance_id}",
        f"synthetic frames: {made_by}",
    ]


def _grid(tiles: list[np.ndarray], columns: int, header: list[str], tile_width: int) -> np.ndarray:
    gap, line_h = 6, 20
    header_h = 8 + line_h * len(header)
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    tile_h = max(t.shape[0] for t in tiles)
    width = max(columns * (tile_width + gap) + gap, 8 * max(len(line) for line in header))
    sheet = np.full((header_h + rows * (tile_h + gap) + gap, width, 3), BACKGROUND, np.uint8)
    for k, line in enumerate(header):
        y = 19 + k * line_h
        cv2.putText(sheet, line, (gap, y), FONT, 0.45, REAL_CAPTION, 1, cv2.LINE_AA)
    for k, tile in enumerate(tiles):
        y = header_h + (k // columns) * (tile_h + gap)
        x = gap + (k % columns) * (tile_width + gap)
        sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return sheet
