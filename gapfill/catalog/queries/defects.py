"""Defects: the one camera/state/kind filter every listing uses, the scan's writes, the windows
repair and training look around a span, and the queue's state change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Defect, Recording
from gapfill.catalog.queries.paging import Page, page


@dataclass(frozen=True)
class DefectFilter:
    """Which defects a listing shows (`gapfill defects`, GET /api/defects, `gapfill repair`)."""

    camera_id: int | None = None
    kind: str | None = None
    state: str | None = None
    since: dt.datetime | None = None  # starts at or after

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.camera_id is not None:
            query = query.where(Defect.camera_id == self.camera_id)
        if self.kind is not None:
            query = query.where(Defect.kind == self.kind)
        if self.state is not None:
            query = query.where(Defect.state == self.state)
        if self.since is not None:
            query = query.where(Defect.start_time >= self.since)
        return query


def defects_page(session: Session, where: DefectFilter, limit: int, offset: int) -> Page[Defect]:
    """A page of the matching defects in time order."""
    return page(
        session, where.apply(select(Defect).order_by(Defect.start_time, Defect.id)), limit, offset
    )


def defects_with_places(
    session: Session, where: DefectFilter
) -> list[tuple[Defect, str, str | None]]:
    """(defect, camera name, recording path or None) of the matching defects, by camera name
    then time."""
    query = where.apply(
        select(Defect, Camera.name, Recording.path)
        .join(Camera, Defect.camera_id == Camera.id)
        .outerjoin(Recording, Defect.recording_id == Recording.id)
        .order_by(Camera.name, Defect.start_time)
    )
    return [(defect, name, path) for defect, name, path in session.execute(query).all()]


def defect_ids(session: Session, where: DefectFilter) -> list[int]:
    """Ids of the matching defects, oldest first (the order repairs and the queue take them)."""
    return list(
        session.scalars(where.apply(select(Defect.id)).order_by(Defect.start_time, Defect.id))
    )


def defects_with_camera_names(
    session: Session, ids: Iterable[int]
) -> dict[int, tuple[Defect, str]]:
    """defect id -> (defect, its camera's name), for the given ids."""
    rows = session.execute(
        select(Defect, Camera.name)
        .join(Camera, Defect.camera_id == Camera.id)
        .where(Defect.id.in_(set(ids)))
    )
    return {defect.id: (defect, name) for defect, name in rows}


def defect_at(session: Session, camera_id: int, kind: str, start: dt.datetime) -> Defect | None:
    """The camera's defect of `kind` starting at `start` (a scan writes each finding once)."""
    return session.scalar(
        select(Defect).where(
            Defect.camera_id == camera_id, Defect.kind == kind, Defect.start_time == start
        )
    )


def delete_open_defects_of_recording(session: Session, recording_id: int) -> None:
    """Drop a recording's `open` defects before a rescan writes them again; defects someone
    acted on (queued, repaired, ignored...) stay."""
    session.execute(
        delete(Defect).where(Defect.recording_id == recording_id, Defect.state == "open")
    )


def delete_open_defects_of_detector(
    session: Session, camera_id: int, detector: str, low: dt.datetime, high: dt.datetime
) -> None:
    """Drop the camera's `open` defects found by `detector` that start in [low, high]."""
    session.execute(
        delete(Defect).where(
            Defect.camera_id == camera_id,
            Defect.detector == detector,
            Defect.state == "open",
            Defect.start_time >= low,
            Defect.start_time <= high,
        )
    )


def other_defect_spans(
    session: Session, defect: Defect, window: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """(start, end) of the camera's other defects within `window` of `defect`."""
    rows = session.execute(
        select(Defect.start_time, Defect.end_time).where(
            Defect.camera_id == defect.camera_id,
            Defect.id != defect.id,
            Defect.end_time > defect.start_time - window,
            Defect.start_time < defect.end_time + window,
        )
    ).all()
    return [(start, end) for start, end in rows]


def defect_times(
    session: Session, camera_id: int, since: dt.datetime | None, until: dt.datetime | None
) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """(id, start, end) of the camera's defects that end after `since` and start before `until`
    (either bound left out when None)."""
    query = select(Defect.id, Defect.start_time, Defect.end_time).where(
        Defect.camera_id == camera_id
    )
    if since is not None:
        query = query.where(Defect.end_time > since)
    if until is not None:
        query = query.where(Defect.start_time < until)
    return [(i, start, end) for i, start, end in session.execute(query)]


def mark_defect_queued(session: Session, defect_id: int, activity: float | None = None) -> None:
    """The defect has a live job now; `activity` is what the queue found around it."""
    session.execute(
        update(Defect).where(Defect.id == defect_id).values(state="queued", activity=activity)
    )


def mark_defect_ignored(session: Session, defect_id: int, activity: float, reason: str) -> None:
    """The queue leaves the defect alone, for `reason`; only while it is still open."""
    session.execute(
        update(Defect)
        .where(Defect.id == defect_id, Defect.state == "open")
        .values(state="ignored", state_reason=reason, activity=activity)
    )


def flanking_counts(session: Session, defect_id: int) -> list[tuple[int | None, int | None, float]]:
    """(Frigate motion, Frigate objects, seconds) of the recordings flanking the defect: the
    camera's recording starting at or before the defect's start, and the first one starting at
    or after its end (one row when they are the same file). Each is one step down
    ix_recordings_camera_start, however long the camera's history."""
    defect = session.get(Defect, defect_id)
    if defect is None:
        return []
    columns = (
        Recording.id,
        Recording.frigate_motion,
        Recording.frigate_objects,
        Recording.duration_s,
        Recording.start_time,
        Recording.end_time,
    )
    mine = Recording.camera_id == defect.camera_id
    before = session.execute(
        select(*columns)
        .where(mine, Recording.start_time <= defect.start_time)
        .order_by(Recording.start_time.desc())
        .limit(1)
    ).first()
    after = session.execute(
        select(*columns)
        .where(mine, Recording.start_time >= defect.end_time)
        .order_by(Recording.start_time)
        .limit(1)
    ).first()
    found = {row.id: row for row in (before, after) if row is not None}
    return [
        (
            row.frigate_motion,
            row.frigate_objects,
            # A recording's duration is its decoded length; one that could not be decoded has
            # none, and the span its name and Frigate imply stands in.
            row.duration_s or (row.end_time - row.start_time).total_seconds(),
        )
        for row in found.values()
    ]


def defect_activities(session: Session, ids: Iterable[int]) -> dict[int, float | None]:
    """defect id -> its activity, for the given ids (primary-key lookups)."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(select(Defect.id, Defect.activity).where(Defect.id.in_(wanted)))
    return {defect_id: value for defect_id, value in rows}
