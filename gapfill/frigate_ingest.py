"""Ingest with Frigate's own catalog as the source (`gapfill ingest ROOT --frigate-db FILE`).

1. Frigate's `recordings` rows are read read-only, in one statement (gapfill/catalog/frigate_db.py).
2. Each row's file is found under ROOT by its layout tail (<date>/<hour>/<camera>/<MM>.<SS>.mp4)
   and catalogued with Frigate's camera and start time, then linked to Frigate's id, motion and
   object counts. A row whose file is gone is reported, and its time is a gap.
3. The folders are walked as for the `frigate` layout, so a file Frigate has no row for is
   catalogued too (from its name) and reported; files already catalogued cost one stat.
4. The gaps between each camera's recordings over the span Frigate lists are written as
   `missing` defects (the scan's own recording-gap detector, so a later scan finds them there).

Nothing is written to Frigate's database or folder. Running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapfill.catalog.db import Catalog
from gapfill.catalog.frigate_db import FrigateRow
from gapfill.catalog.queries.frigate import camera_clock, link_recording, sync_gap_defects
from gapfill.config import DetectionSettings
from gapfill.detect.timeline import detect_recording_gaps, recording_coverage
from gapfill.ingest import IngestReport, ingest, ingest_file, recordings_root


@dataclass
class FrigateReport:
    """What one Frigate ingest did, beside the ordinary ingest report."""

    ingest: IngestReport
    rows: int = 0
    linked: int = 0
    files_missing: list[tuple[str, str]] = field(default_factory=list)  # (path, frigate id)
    added_without_row: list[str] = field(default_factory=list)  # catalogued from the walk
    gaps_added: int = 0
    gaps_kept: int = 0
    gaps_removed: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "frigate_rows": self.rows,
            "linked": self.linked,
            "files_missing": len(self.files_missing),
            "added_without_row": len(self.added_without_row),
            "gaps": len(self.gaps),
            "gaps_added": self.gaps_added,
            "gaps_kept": self.gaps_kept,
            "gaps_removed": self.gaps_removed,
        }


def ingest_frigate(
    catalog: Catalog,
    root: Path,
    rows: list[FrigateRow],
    detect: DetectionSettings,
    progress: Callable[[Path], None] | None = None,
    walk: bool = True,
) -> FrigateReport:
    """Catalogue what Frigate's database listed (`rows`, from read_recordings: its connection is
    closed before any file is read) under `root`, the files it does not list, and the gaps
    between them (see the module docstring). `walk=False` leaves out step 3: the daemon reads
    only Frigate's newest rows each tick and finds files without a row by its own partition
    walk (gapfill/jobs/watch.py)."""
    root = recordings_root(root)
    report = FrigateReport(IngestReport(), rows=len(rows))
    listed: set[str] = set()
    by_camera: dict[str, list[FrigateRow]] = defaultdict(list)
    for row in rows:
        by_camera[row.camera].append(row)
        local = root / row.layout_tail
        listed.add(str(local))
        if progress:
            progress(local)
        if not local.is_file():
            report.files_missing.append((str(local), row.id))
            continue
        ingest_file(catalog, local, row.camera, row.start, report.ingest)
        with catalog.session() as session:
            report.linked += link_recording(session, str(local), row)

    if walk:
        walked = ingest(catalog, root, "frigate", progress=progress)
        report.added_without_row = [p for p in walked.added if p not in listed]
        _merge(report.ingest, walked)

    for camera, camera_rows in sorted(by_camera.items()):
        _store_gaps(catalog, camera, camera_rows, detect, report)
    return report


def _merge(into: IngestReport, walked: IngestReport) -> None:
    """The walk's report added to the first pass's. The walk sees every file the first pass
    catalogued again, unchanged, and skips again what it skipped: each file is counted once."""
    into.unchanged = walked.unchanged - len(into.added)
    into.added += walked.added
    for mine, theirs in (
        (into.unreadable, walked.unreadable),
        (into.skipped, walked.skipped),
        (into.changed_originals, walked.changed_originals),
    ):
        mine += [item for item in theirs if item not in mine]


def _store_gaps(
    catalog: Catalog,
    camera: str,
    rows: list[FrigateRow],
    detect: DetectionSettings,
    report: FrigateReport,
) -> None:
    low = min(r.start for r in rows)
    high = max(r.end for r in rows)
    missing = {rid for _path, rid in report.files_missing}
    gone = [(r.start, r.id) for r in rows if r.id in missing]
    with catalog.session() as session:
        clock = camera_clock(session, camera, low, high)
        if clock is None:  # every file of the camera is gone: nothing to measure a gap against
            return
        coverage = recording_coverage(clock.recordings)
        holes = detect_recording_gaps(coverage, clock.interval, detect.gap_factor)
        for span, _culprit in holes:
            span.figures["source"] = "frigate-db"
            span.figures["frigate_rows_without_file"] = [
                rid for start, rid in gone if span.start <= start.timestamp() < span.end
            ]
            report.gaps.append(
                {
                    "camera": camera,
                    "start": dt.datetime.fromtimestamp(span.start, dt.UTC),
                    "end": dt.datetime.fromtimestamp(span.end, dt.UTC),
                    "seconds": span.figures["missing_s"],
                }
            )
        changes = sync_gap_defects(session, clock.camera_id, holes, low, high)
    report.gaps_added += changes.added
    report.gaps_kept += changes.kept
    report.gaps_removed += changes.removed
