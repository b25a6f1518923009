"""Read endpoints: cameras, recordings, defects, repair jobs, models, synthetic clips with their
spans, and the provenance chain (keyset-paged). Every role may read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from gapfill.api.auth import PERMISSIONS, catalog_of, require
from gapfill.api.media import safe_path
from gapfill.api.schemas import (
    CameraOut,
    ClipDetail,
    ClipOut,
    DefectOut,
    EventOut,
    EventPage,
    JobOut,
    Me,
    ModelOut,
    Page,
    RecordingOut,
    SpanOut,
)
from gapfill.api.tokens import Principal
from gapfill.catalog.models import (
    DEFECT_KINDS,
    DEFECT_STATES,
    JOB_STATES,
    RECORDING_STATUSES,
    REVIEW_STATES,
    Camera,
    Defect,
    Model,
    ProvenanceEvent,
    Recording,
    RepairJob,
    SyntheticClip,
    User,
)

router = APIRouter(prefix="/api")
Reader = Annotated[Principal, Depends(require("read"))]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]
CameraName = Annotated[str | None, Query(max_length=128, description="Only this camera.")]


def _one_of(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value is not None and value not in allowed:
        raise HTTPException(400, f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _camera_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    found = session.scalar(select(Camera.id).where(Camera.name == name))
    if found is None:
        raise HTTPException(404, f"no camera named {name!r}")
    return found


def _page(session: Session, query: Select[Any], limit: int, offset: int) -> dict[str, Any]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = session.scalars(query.limit(limit).offset(offset)).all()
    return {"items": items, "total": total or 0, "limit": limit, "offset": offset}


@router.get("/me", response_model=Me, tags=["auth"], summary="Who the token or session is")
def me(user: Reader) -> Me:
    permissions = sorted(p for p, roles in PERMISSIONS.items() if user.role in roles)
    return Me(name=user.name, role=user.role, permissions=permissions)


@router.get("/cameras", response_model=list[CameraOut], tags=["catalog"])
def cameras(request: Request, _user: Reader) -> list[Camera]:
    with catalog_of(request).session() as session:
        return list(session.scalars(select(Camera).order_by(Camera.name)))


@router.get("/recordings", response_model=Page[RecordingOut], tags=["catalog"])
def recordings(
    request: Request,
    _user: Reader,
    camera: CameraName = None,
    status: Annotated[str | None, Query(description="ok, damaged or unreadable")] = None,
    since: Annotated[dt.datetime | None, Query(description="Start at or after (ISO 8601)")] = None,
    until: Annotated[dt.datetime | None, Query(description="Start before (ISO 8601)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    _one_of(status, RECORDING_STATUSES, "status")
    with catalog_of(request).session() as session:
        query = select(Recording).order_by(Recording.start_time, Recording.id)
        camera_id = _camera_id(session, camera)
        if camera_id is not None:
            query = query.where(Recording.camera_id == camera_id)
        if status is not None:
            query = query.where(Recording.status == status)
        if since is not None:
            query = query.where(Recording.start_time >= _utc(since))
        if until is not None:
            query = query.where(Recording.start_time < _utc(until))
        return _page(session, query, limit, offset)


@router.get("/defects", response_model=Page[DefectOut], tags=["catalog"])
def defects(
    request: Request,
    _user: Reader,
    camera: CameraName = None,
    state: Annotated[str | None, Query(description=", ".join(DEFECT_STATES))] = None,
    kind: Annotated[str | None, Query(description=", ".join(DEFECT_KINDS))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    _one_of(state, DEFECT_STATES, "state")
    _one_of(kind, DEFECT_KINDS, "kind")
    with catalog_of(request).session() as session:
        query = select(Defect).order_by(Defect.start_time, Defect.id)
        camera_id = _camera_id(session, camera)
        if camera_id is not None:
            query = query.where(Defect.camera_id == camera_id)
        if state is not None:
            query = query.where(Defect.state == state)
        if kind is not None:
            query = query.where(Defect.kind == kind)
        return _page(session, query, limit, offset)


@router.get("/jobs", response_model=Page[JobOut], tags=["catalog"])
def jobs(
    request: Request,
    _user: Reader,
    state: Annotated[str | None, Query(description=", ".join(JOB_STATES))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    _one_of(state, JOB_STATES, "state")
    with catalog_of(request).session() as session:
        query = select(RepairJob).order_by(RepairJob.id.desc())
        if state is not None:
            query = query.where(RepairJob.state == state)
        return _page(session, query, limit, offset)


@router.get("/models", response_model=list[ModelOut], tags=["catalog"])
def models(request: Request, _user: Reader) -> list[Model]:
    with catalog_of(request).session() as session:
        return list(session.scalars(select(Model).order_by(Model.id)))


def clip_rows(
    session: Session,
    camera: str | None = None,
    review_state: str | None = None,
    clip_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Clips with camera, model and reviewer names and their spans, oldest first; also the
    total count. Shared by the API and the review queue page."""
    reviewer = aliased(User)
    query = (
        select(SyntheticClip, Camera.name, Model.name, reviewer.name)
        .join(Camera, SyntheticClip.camera_id == Camera.id)
        .outerjoin(Model, SyntheticClip.model_id == Model.id)
        .outerjoin(reviewer, SyntheticClip.reviewed_by == reviewer.id)
        .options(selectinload(SyntheticClip.spans))
        .order_by(SyntheticClip.start_time, SyntheticClip.id)
    )
    camera_id = _camera_id(session, camera)
    if camera_id is not None:
        query = query.where(SyntheticClip.camera_id == camera_id)
    if review_state is not None:
        query = query.where(SyntheticClip.review_state == review_state)
    if clip_id is not None:
        query = query.where(SyntheticClip.id == clip_id)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = []
    for clip, camera_name, model_name, reviewer_name in session.execute(
        query.limit(limit).offset(offset)
    ):
        row = {c: getattr(clip, c) for c in ClipOut.model_fields if hasattr(clip, c)}
        row.update(
            camera=camera_name,
            model_name=model_name,
            reviewer=reviewer_name,
            path=clip.path,
            spans=[
                SpanOut.model_validate(s).model_dump()
                for s in sorted(clip.spans, key=lambda s: s.frame_start)
            ],
            video_url=f"/api/clips/{clip.id}/video",
        )
        rows.append(row)
    return rows, total or 0


def clip_detail(request: Request, clip_id: int) -> dict[str, Any]:
    """One clip with what the player needs: fps and frame count of the file itself."""
    with catalog_of(request).session() as session:
        rows, _ = clip_rows(session, clip_id=clip_id, limit=1)
    if not rows:
        raise HTTPException(404, f"no synthetic clip {clip_id}")
    row = rows[0]
    row.update(fps=None, frame_count=0, width=None, height=None, media_error=None)
    try:
        media = request.app.state.frames.media(safe_path(request.app.state.settings, row["path"]))
    except HTTPException as exc:
        # The record stays reviewable and auditable even when its file is gone or misplaced.
        row["media_error"] = exc.detail
    else:
        row.update(
            fps=media.fps, frame_count=media.frame_count, width=media.width, height=media.height
        )
    return row


@router.get("/clips", response_model=Page[ClipOut], tags=["clips"])
def clips(
    request: Request,
    _user: Reader,
    camera: CameraName = None,
    review_state: Annotated[str | None, Query(description="pending, approved or rejected")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    _one_of(review_state, REVIEW_STATES, "review_state")
    with catalog_of(request).session() as session:
        items, total = clip_rows(session, camera, review_state, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/clips/{clip_id}", response_model=ClipDetail, tags=["clips"])
def clip(
    request: Request, clip_id: Annotated[int, PathParam(ge=1)], _user: Reader
) -> dict[str, Any]:
    return clip_detail(request, clip_id)


@router.get("/provenance/events", response_model=EventPage, tags=["provenance"])
def events(
    request: Request,
    _user: Reader,
    after: Annotated[int, Query(ge=0, description="Return events with seq above this.")] = 0,
    limit: Limit = 100,
    action: Annotated[str | None, Query(max_length=32)] = None,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    # Keyset paging on seq: stable while new events are appended, cheap on millions of rows.
    query = select(ProvenanceEvent).where(ProvenanceEvent.seq > after)
    if action is not None:
        query = query.where(ProvenanceEvent.action == action)
    if subject_type is not None:
        query = query.where(ProvenanceEvent.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(ProvenanceEvent.subject_id == subject_id)
    with catalog_of(request).session() as session:
        rows = session.scalars(query.order_by(ProvenanceEvent.seq).limit(limit)).all()
        items = [EventOut.model_validate(r) for r in rows]
    return EventPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


def _utc(value: dt.datetime) -> dt.datetime:
    """Query times without a zone are UTC, as on the command line."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
