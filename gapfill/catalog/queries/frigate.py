"""gapfill's catalog side of a Frigate source: Frigate's ids and activity on recordings, the
coverage of a camera's clock, and the gap defects found between Frigate's rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from gapfill.catalog.frigate_db import FrigateRow
from gapfill.catalog.models import Camera, Defect, Recording
from gapfill.catalog.queries.recordings import coverage_rows
from gapfill.catalog.timeline_names import DEFAULT_INTERVAL, RECORDING_GAP_DETECTOR


def link_recording(session: Session, path: str, row: FrigateRow) -> bool:
    """Put Frigate's id and activity on the recording of `path`; True if anything changed
    (False too when the file has no recording: it was skipped, and ingest reported why)."""
    recording = session.scalar(select(Recording).where(Recording.path == path))
    if recording is None:
        return False
    facts = (row.id, row.motion, row.objects)
    if (recording.frigate_id, recording.frigate_motion, recording.frigate_objects) == facts:
        return False
    recording.frigate_id, recording.frigate_motion, recording.frigate_objects = facts
    return True


@dataclass(frozen=True)
class CameraClock:
    camera_id: int
    interval: float  # seconds between frames
    recordings: list[tuple[int, dt.datetime, dt.datetime, str]]  # as coverage_rows gives them


def camera_clock(
    session: Session, name: str, low: dt.datetime, high: dt.datetime
) -> CameraClock | None:
    """What the catalog's recordings of camera `name` cover between `low` and `high` (widened to
    the recording on each side, so a hole at either end is seen); None for an unknown camera."""
    camera = session.scalar(select(Camera).where(Camera.name == name))
    if camera is None:
        return None
    before = session.scalar(
        select(Recording.start_time)
        .where(Recording.camera_id == camera.id, Recording.start_time < low)
        .order_by(Recording.start_time.desc())
        .limit(1)
    )
    after = session.scalar(
        select(Recording.start_time)
        .where(Recording.camera_id == camera.id, Recording.start_time > high)
        .order_by(Recording.start_time)
        .limit(1)
    )
    recordings = coverage_rows(session, camera.id, before or low, after or high)
    fps = camera.cadence_fps or camera.nominal_fps
    return CameraClock(camera.id, 1.0 / fps if fps else DEFAULT_INTERVAL, recordings)


class GapSpan(Protocol):
    """What sync_gap_defects reads of a hole (the timeline detector's spans have it)."""

    kind: str
    start: float  # POSIX seconds
    end: float
    detector: str
    figures: dict[str, Any]


@dataclass
class GapChanges:
    added: int = 0
    kept: int = 0
    removed: int = 0


def sync_gap_defects(
    session: Session,
    camera_id: int,
    holes: list[tuple[GapSpan, int | None]],
    low: dt.datetime,
    high: dt.datetime,
) -> GapChanges:
    """Make the open gap defects of the camera between `low` and `high` exactly `holes`: a hole
    already recorded is kept as it is (a second ingest changes nothing), an open gap that is no
    hole any more (its file arrived late) is removed, a new hole is added. A gap a person or the
    queue acted on is never touched."""
    changes = GapChanges()
    existing = {
        d.start_time: d
        for d in session.scalars(
            select(Defect).where(
                Defect.camera_id == camera_id,
                Defect.kind == "missing",
                Defect.start_time >= low,
                Defect.start_time <= high,
            )
        )
    }
    wanted: set[dt.datetime] = set()
    for span, culprit in holes:
        start = dt.datetime.fromtimestamp(span.start, dt.UTC)
        end = dt.datetime.fromtimestamp(span.end, dt.UTC)
        wanted.add(start)
        if start in existing:
            changes.kept += 1
            continue
        session.add(
            Defect(
                camera_id=camera_id,
                recording_id=culprit,
                kind=span.kind,
                start_time=start,
                end_time=end,
                detector=span.detector,
                figures=span.figures,
            )
        )
        changes.added += 1
    for start, defect in existing.items():
        if (
            start not in wanted
            and defect.state == "open"
            and defect.detector == RECORDING_GAP_DETECTOR
        ):
            session.delete(defect)
            changes.removed += 1
    session.flush()
    return changes
