"""Recordings: listings, the scan's and the repair's windows, a camera's training footage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Recording
from gapfill.catalog.queries.paging import Page, page


@dataclass(frozen=True)
class RecordingFilter:
    """Which recordings a listing shows (`gapfill recordings`, GET /api/recordings)."""

    camera_id: int | None = None
    status: str | None = None
    since: dt.datetime | None = None  # starts at or after
    until: dt.datetime | None = None  # starts before

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.camera_id is not None:
            query = query.where(Recording.camera_id == self.camera_id)
        if self.status is not None:
            query = query.where(Recording.status == self.status)
        if self.since is not None:
            query = query.where(Recording.start_time >= self.since)
        if self.until is not None:
            query = query.where(Recording.start_time < self.until)
        return query


def recordings_page(
    session: Session, where: RecordingFilter, limit: int, offset: int
) -> Page[Recording]:
    """A page of the matching recordings in time order."""
    query = where.apply(select(Recording).order_by(Recording.start_time, Recording.id))
    return page(session, query, limit, offset)


def newest_recordings(
    session: Session, where: RecordingFilter, limit: int
) -> list[tuple[Recording, str]]:
    """The newest `limit` matching recordings with their camera's name, newest first.
    Recording.id breaks ties for a stable cut when two share a start time and a camera name."""
    query = where.apply(
        select(Recording, Camera.name)
        .join(Camera)
        .order_by(Recording.start_time.desc(), Camera.name.desc(), Recording.id.desc())
    )
    return [(recording, name) for recording, name in session.execute(query.limit(limit)).all()]


def recording_by_path(session: Session, path: str) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.path == path))


def recordings_to_scan(
    session: Session, camera_ids: Iterable[int], since: dt.datetime | None, rescan: bool
) -> list[Recording]:
    """The cameras' recordings a scan decodes, by camera then time: the unscanned ones (every
    one with `rescan`), starting at or after `since` when given. Without `rescan` it walks
    ix_recordings_unscanned, which holds the unscanned rows only: a watch tick asks this every
    time, and the answer must not cost a read of the whole archive."""
    query = select(Recording).where(Recording.camera_id.in_(camera_ids))
    if since is not None:
        query = query.where(Recording.start_time >= since)
    if not rescan:
        query = query.where(Recording.scanned_at.is_(None))
    return list(session.scalars(query.order_by(Recording.camera_id, Recording.start_time)))


def neighbouring_readable_start(
    session: Session, camera_id: int, moment: dt.datetime, later: bool
) -> dt.datetime | None:
    """Start of the camera's readable recording nearest `moment` that starts strictly before it
    (later=False) or strictly after it (later=True); None when there is none."""
    side = Recording.start_time > moment if later else Recording.start_time < moment
    order = Recording.start_time if later else Recording.start_time.desc()
    return session.scalar(
        select(Recording.start_time)
        .where(Recording.camera_id == camera_id, side, Recording.status != "unreadable")
        .order_by(order)
        .limit(1)
    )


def coverage_rows(
    session: Session, camera_id: int, low: dt.datetime, high: dt.datetime
) -> list[tuple[int, dt.datetime, dt.datetime, str]]:
    """(id, start, end, status) of the camera's recordings starting in [low, high]."""
    rows = session.execute(
        select(Recording.id, Recording.start_time, Recording.end_time, Recording.status).where(
            Recording.camera_id == camera_id,
            Recording.start_time >= low,
            Recording.start_time <= high,
        )
    ).all()
    return [(rid, start, end, status) for rid, start, end, status in rows]


def newest_scanned_mtime_ns(session: Session) -> int | None:
    """The newest file modification time among scanned recordings (None before any scan): the
    last entry of ix_recordings_scanned_mtime, so one index step on a catalog of any size."""
    return session.scalar(
        select(func.max(Recording.mtime_ns)).where(Recording.scanned_at.is_not(None))
    )


def readable_recordings_overlapping(
    session: Session, camera_id: int, start: dt.datetime, end: dt.datetime
) -> list[Recording]:
    """The camera's readable recordings overlapping [start, end), in time order."""
    return list(
        session.scalars(
            select(Recording)
            .where(
                Recording.camera_id == camera_id,
                Recording.status != "unreadable",
                Recording.end_time > start,
                Recording.start_time < end,
            )
            .order_by(Recording.start_time)
        ).all()
    )


def training_recordings(
    session: Session, camera_id: int, since: dt.datetime | None, until: dt.datetime | None
) -> list[Recording]:
    """The camera's scanned, decodable (ok or damaged) recordings overlapping [since, until),
    oldest first."""
    query = select(Recording).where(
        Recording.camera_id == camera_id,
        Recording.status.in_(("ok", "damaged")),
        Recording.scanned_at.is_not(None),
    )
    if since is not None:
        query = query.where(Recording.end_time > since)
    if until is not None:
        query = query.where(Recording.start_time < until)
    return list(session.scalars(query.order_by(Recording.start_time, Recording.id)))
