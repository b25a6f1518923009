"""The pilot's figures, added up from the catalog rows of gapfill.catalog.queries.report.

Definitions (the report's HTML and CSV say the same):
- footage per camera and UTC day: `lost_s` is the footage inside defects of every kind and state;
  `recovered_s` the footage covered by synthetic spans of repaired defects, of which `rejected_s`
  lies in clips an engineer rejected; `unrepairable_s`, `open_s` (open or queued) and `ignored_s`
  split the rest of the lost footage by defect state. Spans and defects crossing midnight are
  split at midnight, and everything is cut to the report window.
- defects by kind: defects counted on the UTC day they start (or the window's first day, for one
  that started before it).
- reviews: clips by review state (approved, rejected, pending = awaiting review).
- turnaround: clip creation to its first approve/reject, median and 90th percentile (linear
  interpolation) per camera and over all cameras.
- compute: repair wall time over the seconds of footage the clips synthesized, and beside it the
  model's fill time over the same. Each repair measures itself and records both on its clip
  (synthetic_clips.repair_seconds, .fill_seconds), however it ran: queue, `gapfill repair`, demo.
  Clips made before that (migration 0003) fall back to their repair job's wall time (first claim
  to completion) when a single-attempt job of the queue made them; they have no fill time. The
  rest are counted as untimed: no job, or a retried one, whose time includes its backoff waits.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

import numpy as np

from gapfill.catalog.queries.report import ClipRow, DefectRow, SpanRow, Window
from gapfill.report.quality import QualityRow

ALL_CAMERAS = "all"
REVIEW_COLUMNS = ("approved", "rejected", "pending")


@dataclass
class FootageRow:
    camera: str
    day: dt.date
    lost_s: float = 0.0
    recovered_s: float = 0.0
    rejected_s: float = 0.0
    unrepairable_s: float = 0.0
    open_s: float = 0.0
    ignored_s: float = 0.0

    @staticmethod
    def measures() -> tuple[str, ...]:
        return tuple(f.name for f in fields(FootageRow) if f.name.endswith("_s"))


@dataclass(frozen=True)
class TurnaroundRow:
    camera: str
    reviewed: int
    median_s: float
    p90_s: float


@dataclass(frozen=True)
class ComputeRow:
    camera: str
    # Clips with a repair wall time (their own, or their job's), and those without.
    timed_clips: int
    untimed_clips: int
    # The timed clips' repair wall time, and the footage they synthesized.
    wall_s: float
    synthetic_s: float
    # The model's fill time of the clips that measured it, and the footage those synthesized:
    # a separate denominator, since clips timed by their job have no fill time.
    fill_s: float = 0.0
    fill_synthetic_s: float = 0.0

    @property
    def wall_per_synthetic_s(self) -> float | None:
        return self.wall_s / self.synthetic_s if self.timed_clips and self.synthetic_s else None

    @property
    def fill_per_synthetic_s(self) -> float | None:
        return self.fill_s / self.fill_synthetic_s if self.fill_synthetic_s else None


@dataclass(frozen=True)
class ModelQuality:
    """A model's figures from its quality.json, or why there are none."""

    name: str
    folder: str
    rows: list[QualityRow] | None
    problem: str | None = None


@dataclass
class Figures:
    window: Window
    generated_at: dt.datetime
    cameras: list[str]
    footage: list[FootageRow] = field(default_factory=list)
    # (camera, day, kind) -> defects
    defects_by_kind: dict[tuple[str, dt.date, str], int] = field(default_factory=dict)
    # camera -> review state -> clips
    reviews: dict[str, dict[str, int]] = field(default_factory=dict)
    turnaround: list[TurnaroundRow] = field(default_factory=list)
    compute: list[ComputeRow] = field(default_factory=list)
    quality: list[ModelQuality] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.footage or self.defects_by_kind or self.reviews)


def by_day(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.date, float]]:
    """[start, end) cut at UTC midnights: (day, seconds on that day)."""
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    while start < end:
        midnight = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        piece_end = min(end, midnight)
        yield start.date(), (piece_end - start).total_seconds()
        start = piece_end


def footage(window: Window, defects: list[DefectRow], spans: list[SpanRow]) -> list[FootageRow]:
    table: dict[tuple[str, dt.date], FootageRow] = {}

    def row(camera: str, day: dt.date) -> FootageRow:
        return table.setdefault((camera, day), FootageRow(camera, day))

    by_state = {"unrepairable": "unrepairable_s", "open": "open_s", "queued": "open_s",
                "ignored": "ignored_s"}  # fmt: skip
    for defect in defects:
        for day, seconds in by_day(*window.clip(defect.start, defect.end)):
            entry = row(defect.camera, day)
            entry.lost_s += seconds
            state_field = by_state.get(defect.state)  # repaired: counted from its spans below
            if state_field is not None:
                setattr(entry, state_field, getattr(entry, state_field) + seconds)
    for span in spans:
        if span.defect_state != "repaired":
            continue
        for day, seconds in by_day(*window.clip(span.start, span.end)):
            entry = row(span.camera, day)
            entry.recovered_s += seconds
            if span.review_state == "rejected":
                entry.rejected_s += seconds
    return [table[key] for key in sorted(table)]


KindCounts = dict[tuple[str, dt.date, str], int]


def defects_by_kind(window: Window, defects: list[DefectRow]) -> KindCounts:
    counts: Counter[tuple[str, dt.date, str]] = Counter()
    for defect in defects:
        start, _end = window.clip(defect.start, defect.end)
        counts[(defect.camera, start.astimezone(dt.UTC).date(), defect.kind)] += 1
    return dict(sorted(counts.items()))


def reviews(clips: list[ClipRow]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for clip in clips:
        counts = table.setdefault(clip.camera, dict.fromkeys(REVIEW_COLUMNS, 0))
        counts[clip.review_state] = counts.get(clip.review_state, 0) + 1
    return dict(sorted(table.items()))


def turnaround(clips: list[ClipRow]) -> list[TurnaroundRow]:
    waits: dict[str, list[float]] = defaultdict(list)
    for clip in clips:
        if clip.decided_at is not None:
            waits[clip.camera].append((clip.decided_at - clip.created_at).total_seconds())
    if not waits:
        return []
    everything = [w for camera in sorted(waits) for w in waits[camera]]
    rows = [_turnaround_row(camera, waits[camera]) for camera in sorted(waits)]
    return [*rows, _turnaround_row(ALL_CAMERAS, everything)]


def _turnaround_row(camera: str, seconds: list[float]) -> TurnaroundRow:
    median, p90 = np.percentile(np.asarray(seconds, dtype=float), [50, 90])
    return TurnaroundRow(camera, len(seconds), float(median), float(p90))


def compute(clips: list[ClipRow]) -> list[ComputeRow]:
    per_camera: dict[str, list[ClipRow]] = defaultdict(list)
    for clip in clips:
        per_camera[clip.camera].append(clip)
    if not per_camera:
        return []
    rows = [_compute_row(camera, per_camera[camera]) for camera in sorted(per_camera)]
    return [*rows, _compute_row(ALL_CAMERAS, clips)]


def timed_wall_seconds(clip: ClipRow) -> float | None:
    """The repair wall time of `clip`: as the repair measured it, or for a clip made before
    that was recorded (migration 0003), as its single-attempt queue job did; else None."""
    if clip.repair_seconds is not None:
        return clip.repair_seconds
    if (
        clip.job_state != "done"
        or clip.job_attempts != 1
        or clip.job_started_at is None
        or clip.job_finished_at is None
    ):
        return None
    return max(0.0, (clip.job_finished_at - clip.job_started_at).total_seconds())


def _compute_row(camera: str, clips: list[ClipRow]) -> ComputeRow:
    timed = [(timed_wall_seconds(c), c.synthetic_seconds) for c in clips]
    measured = [(wall, synth) for wall, synth in timed if wall is not None]
    filled = [(c.fill_seconds, c.synthetic_seconds) for c in clips if c.fill_seconds is not None]
    return ComputeRow(
        camera,
        timed_clips=len(measured),
        untimed_clips=len(timed) - len(measured),
        wall_s=sum(wall for wall, _ in measured),
        synthetic_s=sum(synth for _, synth in measured),
        fill_s=sum(fill for fill, _ in filled),
        fill_synthetic_s=sum(synth for _, synth in filled),
    )
