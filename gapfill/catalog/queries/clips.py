"""Synthetic clips and their spans: the review listing, one clip by id, path or provenance id,
the review's compare-and-set, retention's and recovery's lists, the audit's spans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session, aliased, selectinload

from gapfill.catalog.models import Camera, Model, SyntheticClip, SyntheticSpan, User


def clip_by_id(session: Session, clip_id: int) -> SyntheticClip | None:
    return session.scalar(select(SyntheticClip).where(SyntheticClip.id == clip_id))


def clip_path(session: Session, clip_id: int) -> str | None:
    """The path the catalog records for clip `clip_id`, or None when there is no such clip."""
    return session.scalar(select(SyntheticClip.path).where(SyntheticClip.id == clip_id))


def clip_paths(session: Session) -> list[str]:
    return list(session.scalars(select(SyntheticClip.path)))


def all_clips(session: Session) -> list[SyntheticClip]:
    return list(session.scalars(select(SyntheticClip).order_by(SyntheticClip.id)).all())


def first_clip_at(session: Session, paths: Iterable[str]) -> SyntheticClip | None:
    """The first clip (lowest id) recorded under any of `paths`."""
    return session.scalar(
        select(SyntheticClip)
        .where(SyntheticClip.path.in_(set(paths)))
        .order_by(SyntheticClip.id)
        .limit(1)
    )


def clip_by_provenance_id(session: Session, provenance_id: str) -> SyntheticClip | None:
    return session.scalar(select(SyntheticClip).where(SyntheticClip.provenance_id == provenance_id))


def clip_provenance_ids(session: Session) -> set[str]:
    return set(session.scalars(select(SyntheticClip.provenance_id)))


def clips_created_before(
    session: Session, cutoff: dt.datetime
) -> list[tuple[int, str, str, str, int, dt.datetime]]:
    """(id, provenance id, path, sha256, size, created at) of every clip created before
    `cutoff`, oldest first."""
    rows = session.execute(
        select(
            SyntheticClip.id,
            SyntheticClip.provenance_id,
            SyntheticClip.path,
            SyntheticClip.sha256,
            SyntheticClip.size_bytes,
            SyntheticClip.created_at,
        )
        .where(SyntheticClip.created_at < cutoff)
        .order_by(SyntheticClip.created_at, SyntheticClip.id)
    ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def clip_files(
    session: Session, recorded_before: dt.datetime | None = None
) -> list[tuple[str, str, int, str]]:
    """(path, sha256, size, provenance id) of every clip (only those recorded before
    `recorded_before`, when given)."""
    query = select(
        SyntheticClip.path,
        SyntheticClip.sha256,
        SyntheticClip.size_bytes,
        SyntheticClip.provenance_id,
    )
    if recorded_before is not None:
        query = query.where(SyntheticClip.created_at < recorded_before)
    return [tuple(row) for row in session.execute(query).all()]  # type: ignore[misc]


def set_review(
    session: Session,
    clip_id: int,
    seen: str,
    decision: str,
    user_id: int,
    now: dt.datetime,
    comment: str | None,
) -> bool:
    """Record a review decision only if the clip is still in the state the reviewer saw (`seen`):
    False when another review came first."""
    changed = session.execute(
        update(SyntheticClip)
        .where(SyntheticClip.id == clip_id, SyntheticClip.review_state == seen)
        .values(
            review_state=decision,
            reviewed_by=user_id,
            reviewed_at=now,
            review_comment=comment,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def clip_page(
    session: Session,
    camera_id: int | None = None,
    review_state: str | None = None,
    clip_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    after: tuple[dt.datetime, int] | None = None,
) -> tuple[list[tuple[SyntheticClip, str, str | None, str | None]], int]:
    """(clip, camera name, model name, reviewer name) of the matching clips, oldest first (start
    time, then id), spans loaded; and how many clips match, `after` aside.

    `after` (start time, id) starts the page right after that clip, in an index (migration
    0002), instead of stepping over every clip before it as an offset does."""
    filters: list[Any] = []
    if camera_id is not None:
        filters.append(SyntheticClip.camera_id == camera_id)
    if review_state is not None:
        filters.append(SyntheticClip.review_state == review_state)
    if clip_id is not None:
        filters.append(SyntheticClip.id == clip_id)
    # Counted on the clips table alone: every clip has its camera (foreign key, not null) and
    # the outer joins add no rows, so the joins would only slow the count down.
    total = session.scalar(select(func.count(SyntheticClip.id)).where(*filters))
    if after is not None:
        # A plain tuple on the right: each value is bound with its column's type (UtcDateTime).
        filters.append(tuple_(SyntheticClip.start_time, SyntheticClip.id) > after)
    reviewer = aliased(User)
    query = (
        select(SyntheticClip, Camera.name, Model.name, reviewer.name)
        .join(Camera, SyntheticClip.camera_id == Camera.id)
        .outerjoin(Model, SyntheticClip.model_id == Model.id)
        .outerjoin(reviewer, SyntheticClip.reviewed_by == reviewer.id)
        .options(selectinload(SyntheticClip.spans))
        .where(*filters)
        .order_by(SyntheticClip.start_time, SyntheticClip.id)
        .limit(limit)
        .offset(offset)
    )
    found = [(clip, camera, model, who) for clip, camera, model, who in session.execute(query)]
    return found, total or 0


def audit_spans(
    session: Session,
    camera: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[tuple[SyntheticSpan, SyntheticClip, str, Model | None, str | None]]:
    """(span, clip, camera name, model, reviewer name) of every synthetic frame range of
    `camera` (all cameras if None) overlapping [start, end), in time order."""
    reviewer = aliased(User)
    query = (
        select(SyntheticSpan, SyntheticClip, Camera.name, Model, reviewer.name)
        .join(SyntheticClip, SyntheticSpan.clip_id == SyntheticClip.id)
        .join(Camera, SyntheticSpan.camera_id == Camera.id)
        .outerjoin(Model, SyntheticClip.model_id == Model.id)
        .outerjoin(reviewer, SyntheticClip.reviewed_by == reviewer.id)
        .order_by(SyntheticSpan.start_time, Camera.name, SyntheticSpan.id)
    )
    if camera is not None:
        query = query.where(Camera.name == camera)
    if start is not None:
        query = query.where(SyntheticSpan.end_time > start)
    if end is not None:
        query = query.where(SyntheticSpan.start_time < end)
    return [tuple(row) for row in session.execute(query).all()]  # type: ignore[misc]


def synthetic_seconds(session: Session) -> float:
    """Seconds of footage synthesised, over every span in the catalog."""
    if session.get_bind().dialect.name == "sqlite":  # times are stored as ISO text there
        days = func.julianday(SyntheticSpan.end_time) - func.julianday(SyntheticSpan.start_time)
        span = days * 86400.0
    else:
        span = func.extract("epoch", SyntheticSpan.end_time - SyntheticSpan.start_time)
    return session.scalar(select(func.sum(span))) or 0.0
