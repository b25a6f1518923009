"""The model card's quality figures as a machine-readable file: `quality.json` in a model's folder.

Format: a JSON list of rows, one per (source, span length, filler), each the mean over the cuts
`benchmarks/fill_quality.py` made:

    [{"source": "real", "span_frames": 16, "filler": "malt",
      "psnr": 23.46, "ssim": 0.738, "sharpness": 0.300, "seam_jump": 4.026}, ...]

- source: "real" (evaluation clips no filler trained on) or "synthetic" (held-out simulated
  cameras);
- span_frames: frames cut out and filled;
- filler: "malt" or a baseline name (hold, crossfade, plate, flow, rife, NAME@SIZE);
- psnr (dB) and ssim on luma at source resolution, sharpness (gradient energy of the fill over the
  truth's; 1 is as sharp as the truth), seam_jump (change at the span edges relative to the real
  frame-to-frame change). gapfill/fill/metrics.py defines each.

`benchmarks/fill_quality.py --quality-json PATH` writes it; `gapfill report` reads it. The format is
defined here, once, so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

QUALITY_FILE = "quality.json"
SOURCES = ("real", "synthetic")
METRIC_FIELDS = ("psnr", "ssim", "sharpness", "seam_jump")
# The benchmark names its source groups "real" and "synth".
_GROUP_TO_SOURCE = {"real": "real", "synth": "synthetic", "synthetic": "synthetic"}


@dataclass(frozen=True)
class QualityRow:
    source: str
    span_frames: int
    filler: str
    psnr: float
    ssim: float
    sharpness: float
    seam_jump: float


class QualityFileError(ValueError):
    """quality.json exists but is not in the format above."""


def rows_from_summary(summary: dict[str, Any]) -> list[QualityRow]:
    """The rows of a fill_quality summary (group -> span -> filler -> metric means)."""
    rows = []
    for group, by_span in summary.items():
        source = _GROUP_TO_SOURCE.get(group)
        if source is None:  # e.g. the plate-tuning runs on training data: not model-card figures
            continue
        for span, by_filler in sorted(by_span.items(), key=lambda kv: int(kv[0])):
            for filler, entry in by_filler.items():
                figures = {m: round(float(entry[m]), 4) for m in METRIC_FIELDS}
                rows.append(QualityRow(source, int(span), filler, **figures))
    return rows


def write_quality(path: Path, rows: list[QualityRow]) -> None:
    """Write `rows` to `path` atomically (temp file in the same folder, fsync, rename)."""
    from gapfill.media.encode import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([asdict(r) for r in rows], indent=1) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def read_quality(folder: Path) -> list[QualityRow] | None:
    """The rows of `folder`/quality.json; None when the model has no such file.

    Raises QualityFileError naming the problem when the file is there but malformed, so a report
    can say why instead of showing wrong figures."""
    path = folder / QUALITY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # also a model row naming a weights file
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise QualityFileError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, list):
        raise QualityFileError(f"{path}: expected a list of rows")
    rows = []
    for index, item in enumerate(raw):
        try:
            row = QualityRow(
                source=str(item["source"]),
                span_frames=int(item["span_frames"]),
                filler=str(item["filler"]),
                **{m: float(item[m]) for m in METRIC_FIELDS},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise QualityFileError(f"{path}: row {index}: {exc!r}") from None
        if row.source not in SOURCES or row.span_frames < 1:
            raise QualityFileError(f"{path}: row {index}: bad source or span_frames")
        if not all(math.isfinite(getattr(row, m)) for m in METRIC_FIELDS):
            raise QualityFileError(f"{path}: row {index}: a figure is not a finite number")
        rows.append(row)
    return rows
