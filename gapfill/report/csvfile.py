"""The report's figures as one CSV in long form: one number per line, so a spreadsheet can pivot
it any way and a new measure never changes the columns.

Columns: figure, camera, day, item, measure, value.
- footage:    camera, day,  item "",        measure lost_s | recovered_s | rejected_s |
              unrepairable_s | open_s | ignored_s
- defects:    camera, day,  item = kind,    measure count
- reviews:    camera, "",   item = approved | rejected | pending, measure count
- turnaround: camera or "all", "", "",      measure reviewed | median_s | p90_s
- compute:    camera or "all", "", "",      measure timed_clips | untimed_clips | wall_s |
              synthetic_s | wall_s_per_synthetic_s (absent when nothing was timed) | fill_s |
              fill_synthetic_s | fill_s_per_synthetic_s (absent when no clip measured its fill)
- quality:    "", "", item = "model/source/span_frames/filler", measure psnr | ssim | sharpness |
              seam_jump
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from gapfill.report.figures import Figures, FootageRow
from gapfill.report.quality import METRIC_FIELDS

COLUMNS = ("figure", "camera", "day", "item", "measure", "value")
Line = tuple[str, str, str, str, str, float | int]


def csv_lines(figures: Figures) -> Iterator[Line]:
    for row in figures.footage:
        for measure in FootageRow.measures():
            yield "footage", row.camera, row.day.isoformat(), "", measure, getattr(row, measure)
    for (camera, day, kind), count in figures.defects_by_kind.items():
        yield "defects", camera, day.isoformat(), kind, "count", count
    for camera, counts in figures.reviews.items():
        for state, count in counts.items():
            yield "reviews", camera, "", state, "count", count
    for t in figures.turnaround:
        yield "turnaround", t.camera, "", "", "reviewed", t.reviewed
        yield "turnaround", t.camera, "", "", "median_s", t.median_s
        yield "turnaround", t.camera, "", "", "p90_s", t.p90_s
    for c in figures.compute:
        yield "compute", c.camera, "", "", "timed_clips", c.timed_clips
        yield "compute", c.camera, "", "", "untimed_clips", c.untimed_clips
        yield "compute", c.camera, "", "", "wall_s", c.wall_s
        yield "compute", c.camera, "", "", "synthetic_s", c.synthetic_s
        if c.wall_per_synthetic_s is not None:
            yield "compute", c.camera, "", "", "wall_s_per_synthetic_s", c.wall_per_synthetic_s
        yield "compute", c.camera, "", "", "fill_s", c.fill_s
        yield "compute", c.camera, "", "", "fill_synthetic_s", c.fill_synthetic_s
        if c.fill_per_synthetic_s is not None:
            yield "compute", c.camera, "", "", "fill_s_per_synthetic_s", c.fill_per_synthetic_s
    for model in figures.quality:
        for q in model.rows or ():
            item = f"{model.name}/{q.source}/{q.span_frames}/{q.filler}"
            for measure in METRIC_FIELDS:
                yield "quality", "", "", item, measure, getattr(q, measure)


def _cell(value: float | int | str) -> str:
    if isinstance(value, float):
        return str(round(value, 4))  # milliseconds are plenty; timestamps carry microseconds
    return str(value)


def write_csv(figures: Figures, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for line in csv_lines(figures):
            writer.writerow([_cell(v) for v in line])
    return path
