"""What the pilot report reads from the catalog: defects, synthetic spans, clips with their review
and repair timing, and the models that made them. Plain rows only; gapfill.report.figures adds
them up, so the arithmetic can be tested without a database.

Like every other query of the catalog, these are SQLAlchemy expressions over
gapfill.catalog.models: no SQL text, and the same code runs on SQLite and PostgreSQL. Durations
are computed in Python from the rows' timestamps, because the two databases subtract times
differently (see gapfill.catalog.queries.clips.synthetic_seconds).

Time window: every figure is about *footage time* (when the camera recorded), like `gapfill audit`
and `gapfill repair --since`: a defect, span or clip is included when its footage overlaps
[since, until). Review and compute times are wall-clock durations of the work on those clips.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gapfill.catalog.event_names import CLIP_SUBJECT, REVIEW_ACTION
from gapfill.catalog.models import (
    Camera,
    Defect,
    Model,
    RepairJob,
    SyntheticClip,
    SyntheticSpan,
)
from gapfill.catalog.queries.cameras import option_camera_id
from gapfill.catalog.queries.provenance import subject_events


@dataclass(frozen=True)
class Window:
    """Which footage the report covers: [since, until) of one camera, or of all when None."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    camera: str | None = None

    def clip(self, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The part of [start, end) inside the window (may be empty: end <= start)."""
        if self.since is not None:
            start = max(start, self.since)
        if self.until is not None:
            end = min(end, self.until)
        return start, end


@dataclass(frozen=True)
class DefectRow:
    camera: str
    kind: str
    state: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class SpanRow:
    """A synthetic frame range, with the state of the defect it repairs and its clip's review."""

    camera: str
    start: dt.datetime
    end: dt.datetime
    defect_state: str | None
    review_state: str


@dataclass(frozen=True)
class ClipRow:
    clip_id: int
    camera: str
    review_state: str
    created_at: dt.datetime
    # When the first approve/reject was recorded (first `review` event; the clip row as fallback).
    decided_at: dt.datetime | None
    model_id: int | None
    synthetic_seconds: float
    # What the repair cost as it measured itself (synthetic_clips.fill_seconds, .repair_seconds);
    # None for clips made before migration 0003.
    fill_seconds: float | None
    repair_seconds: float | None
    # The repair job that made the clip (None: repaired by `gapfill repair` or the demo).
    # started_at is the first claim, finished_at the completion: the report's fallback timing
    # for clips made before 0003.
    job_state: str | None
    job_attempts: int | None
    job_started_at: dt.datetime | None
    job_finished_at: dt.datetime | None


@dataclass(frozen=True)
class ModelRow:
    model_id: int
    name: str
    path: str


def check_camera(session: Session, window: Window) -> None:
    """Refuse an unknown --camera in one line rather than print an empty report for a typo."""
    if window.camera is None:
        return
    option_camera_id(session, window.camera)


def camera_names(session: Session, window: Window) -> list[str]:
    query = select(Camera.name).order_by(Camera.name)
    if window.camera is not None:
        query = query.where(Camera.name == window.camera)
    return list(session.scalars(query))


def _overlapping(query: Select, start_col: object, end_col: object, window: Window) -> Select:
    if window.camera is not None:
        query = query.where(Camera.name == window.camera)
    if window.since is not None:
        query = query.where(end_col > window.since)  # type: ignore[operator]
    if window.until is not None:
        query = query.where(start_col < window.until)  # type: ignore[operator]
    return query


def defect_rows(session: Session, window: Window) -> list[DefectRow]:
    """Every defect whose footage overlaps the window, in time order."""
    query = (
        select(Camera.name, Defect.kind, Defect.state, Defect.start_time, Defect.end_time)
        .join(Camera, Defect.camera_id == Camera.id)
        .order_by(Defect.start_time, Defect.id)
    )
    query = _overlapping(query, Defect.start_time, Defect.end_time, window)
    return [DefectRow(*row) for row in session.execute(query)]


def span_rows(session: Session, window: Window) -> list[SpanRow]:
    """Every synthetic frame range overlapping the window."""
    query = (
        select(
            Camera.name,
            SyntheticSpan.start_time,
            SyntheticSpan.end_time,
            Defect.state,
            SyntheticClip.review_state,
        )
        .join(SyntheticClip, SyntheticSpan.clip_id == SyntheticClip.id)
        .join(Camera, SyntheticSpan.camera_id == Camera.id)
        .outerjoin(Defect, SyntheticSpan.defect_id == Defect.id)
        .order_by(SyntheticSpan.start_time, SyntheticSpan.id)
    )
    query = _overlapping(query, SyntheticSpan.start_time, SyntheticSpan.end_time, window)
    return [SpanRow(*row) for row in session.execute(query)]


def clip_rows(session: Session, window: Window) -> list[ClipRow]:
    """Every clip whose footage (context included) overlaps the window, with its synthetic
    seconds, first review decision, repair timings and repair job timing."""
    query = (
        select(SyntheticClip, Camera.name, RepairJob)
        .join(Camera, SyntheticClip.camera_id == Camera.id)
        .outerjoin(RepairJob, SyntheticClip.job_id == RepairJob.id)
        .order_by(SyntheticClip.id)
    )
    query = _overlapping(query, SyntheticClip.start_time, SyntheticClip.end_time, window)
    found = session.execute(query).all()
    if not found:
        return []
    # The same window again rather than a list of ids: no parameter limit on a long report.
    spans = (
        select(SyntheticSpan.clip_id, SyntheticSpan.start_time, SyntheticSpan.end_time)
        .join(SyntheticClip, SyntheticSpan.clip_id == SyntheticClip.id)
        .join(Camera, SyntheticClip.camera_id == Camera.id)
    )
    spans = _overlapping(spans, SyntheticClip.start_time, SyntheticClip.end_time, window)
    synthetic: dict[int, float] = {}
    for clip_id, start, end in session.execute(spans):
        synthetic[clip_id] = synthetic.get(clip_id, 0.0) + (end - start).total_seconds()
    decided = _first_decisions(session, {clip.provenance_id for clip, _name, _job in found})
    rows = []
    for clip, camera, job in found:
        decided_at = decided.get(clip.provenance_id)
        if decided_at is None and clip.review_state != "pending":
            decided_at = clip.reviewed_at
        rows.append(
            ClipRow(
                clip_id=clip.id,
                camera=camera,
                review_state=clip.review_state,
                created_at=clip.created_at,
                decided_at=decided_at,
                model_id=clip.model_id,
                synthetic_seconds=synthetic.get(clip.id, 0.0),
                fill_seconds=clip.fill_seconds,
                repair_seconds=clip.repair_seconds,
                job_state=job.state if job else None,
                job_attempts=job.attempts if job else None,
                job_started_at=job.started_at if job else None,
                job_finished_at=job.finished_at if job else None,
            )
        )
    return rows


def _first_decisions(session: Session, provenance_ids: set[str]) -> dict[str, dt.datetime]:
    """provenance id -> time of the first approve/reject in the chain. The clip row keeps only
    the latest decision; turnaround is about the first one."""
    first: dict[str, dt.datetime] = {}
    events = subject_events(session, REVIEW_ACTION, CLIP_SUBJECT, provenance_ids)
    for _seq, subject_id, created_at, payload in events:
        try:
            decision = json.loads(payload).get("decision")
        except (json.JSONDecodeError, AttributeError):
            continue  # a damaged event is `gapfill verify`'s business; skip it here
        if decision in ("approved", "rejected"):
            first.setdefault(subject_id, created_at)
    return first


def model_rows(session: Session, model_ids: set[int]) -> list[ModelRow]:
    if not model_ids:
        return []
    query = select(Model.id, Model.name, Model.path).where(Model.id.in_(model_ids))
    return [ModelRow(*row) for row in session.execute(query.order_by(Model.name))]
