"""Read endpoints: cameras, recordings, defects, repair jobs, models, synthetic clips with their
spans, and the provenance chain (keyset-paged). Every role may read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from gapfill.api.auth import PERMISSIONS, catalog_of, require
from gapfill.api.clip_media import safe_path
from gapfill.api.schemas import (
    MAX_INT,
    CameraOut,
    ClipDetail,
    ClipOut,
    ClipPage,
    DefectOut,
    EventOut,
    EventPage,
    JobOut,
    Me,
    ModelOut,
    Page,
    RecordingOut,
    SpanOut,
    errors,
)
from gapfill.api.tokens import Principal
from gapfill.catalog.models import (
    DEFECT_KINDS,
    DEFECT_STATES,
    JOB_STATES,
    RECORDING_STATUSES,
    REVIEW_STATES,
    Camera,
    Model,
)
from gapfill.catalog.queries import cameras as cameras_q
from gapfill.catalog.queries import clips as clips_q
from gapfill.catalog.queries.checkpoints import all_models
from gapfill.catalog.queries.defects import DefectFilter, defect_activities, defects_page
from gapfill.catalog.queries.jobs import jobs_page
from gapfill.catalog.queries.paging import Page as RowPage
from gapfill.catalog.queries.provenance import events_after
from gapfill.catalog.queries.recordings import RecordingFilter, recordings_page
from gapfill.times import to_utc

router = APIRouter(prefix="/api", responses=errors(401, 403))
Reader = Annotated[Principal, Depends(require("read"))]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="Rows to skip.")]
CameraName = Annotated[str | None, Query(max_length=128, description="Only this camera.")]


def _one_of(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value is not None and value not in allowed:
        raise HTTPException(400, f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _camera_id(session: Session, name: str | None) -> int | None:
    if name is None:
        return None
    found = cameras_q.camera_id(session, name)
    if found is None:
        raise HTTPException(404, f"no camera named {name!r}")
    return found


def _page(found: RowPage[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"items": found.items, "total": found.total, "limit": limit, "offset": offset}


@router.get("/me", response_model=Me, tags=["auth"], summary="Who the token or session is")
def me(user: Reader) -> Me:
    permissions = sorted(p for p, roles in PERMISSIONS.items() if user.role in roles)
    return Me(name=user.name, role=user.role, permissions=permissions)


@router.get("/cameras", response_model=list[CameraOut], tags=["catalog"])
def cameras(request: Request, _user: Reader) -> list[Camera]:
    with catalog_of(request).session() as session:
        return cameras_q.cameras(session)


@router.get(
    "/recordings",
    response_model=Page[RecordingOut],
    tags=["catalog"],
    responses=errors(400, 404),
)
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
        where = RecordingFilter(
            camera_id=_camera_id(session, camera),
            status=status,
            since=_utc(since, "since") if since is not None else None,
            until=_utc(until, "until") if until is not None else None,
        )
        return _page(recordings_page(session, where, limit, offset), limit, offset)


@router.get(
    "/defects", response_model=Page[DefectOut], tags=["catalog"], responses=errors(400, 404)
)
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
        where = DefectFilter(camera_id=_camera_id(session, camera), kind=kind, state=state)
        return _page(defects_page(session, where, limit, offset), limit, offset)


@router.get("/jobs", response_model=Page[JobOut], tags=["catalog"], responses=errors(400))
def jobs(
    request: Request,
    _user: Reader,
    state: Annotated[str | None, Query(description=", ".join(JOB_STATES))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    _one_of(state, JOB_STATES, "state")
    with catalog_of(request).session() as session:
        return _page(jobs_page(session, state, limit, offset), limit, offset)


@router.get("/models", response_model=list[ModelOut], tags=["catalog"])
def models(request: Request, _user: Reader) -> list[Model]:
    with catalog_of(request).session() as session:
        return all_models(session)


class ClipRows(NamedTuple):
    rows: list[dict[str, Any]]
    total: int
    # Cursor of the next page (pass it as `after`), or None when this page is the last.
    next_after: str | None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A cursor names the last clip of a page by its place in the list order: start time (in
# microseconds since 1970, so it needs no escaping in a URL) and id.
CURSOR_PATTERN = r"^-?[0-9]{1,19}_[0-9]{1,10}$"


def clip_cursor(start_time: dt.datetime, clip_id: int) -> str:
    return f"{(start_time - _EPOCH) // dt.timedelta(microseconds=1)}_{clip_id}"


def parse_clip_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """(start_time, id) of a cursor made by clip_cursor; 400 for anything else."""
    micros, _, clip_id = cursor.partition("_")
    try:
        start = _EPOCH + dt.timedelta(microseconds=int(micros))
        if not 1 <= int(clip_id) <= MAX_INT:
            raise ValueError(clip_id)
    except (ValueError, OverflowError):
        raise HTTPException(400, f"after: {cursor!r} is not a cursor this API gave out") from None
    return start, int(clip_id)


def clip_rows(
    session: Session,
    camera: str | None = None,
    review_state: str | None = None,
    clip_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
    after: str | None = None,
) -> ClipRows:
    """Clips with camera, model and reviewer names and their spans, oldest first (start time,
    then id); also the total count and the cursor of the next page. Shared by the API and the
    review queue page.

    Page either by `offset` or, cheaper on a long list, by `after` (the cursor of the previous
    page): the query then starts right after that clip in an index (migration 0002) instead of
    stepping over every clip before it.
    """
    if after is not None and offset:
        raise HTTPException(400, "after: page by after or by offset, not both")
    camera_id = _camera_id(session, camera)
    cursor = parse_clip_cursor(after) if after is not None else None
    # One row more than asked: whether it exists says if there is a next page.
    found, total = clips_q.clip_page(
        session,
        camera_id=camera_id,
        review_state=review_state,
        clip_id=clip_id,
        limit=limit + 1,
        offset=offset,
        after=cursor,
    )
    # The page's activities by defect id: primary-key lookups, so the page stays one index walk
    # of clips (a join would read defects for every clip the walk passes).
    activities = defect_activities(session, (clip.defect_id for clip, *_ in found[:limit]))
    rows = []
    for clip, camera_name, model_name, reviewer_name in found[:limit]:
        row = {c: getattr(clip, c) for c in ClipOut.model_fields if hasattr(clip, c)}
        row.update(
            activity=activities.get(clip.defect_id),
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
    last = found[limit - 1][0] if len(found) > limit else None
    return ClipRows(rows, total, clip_cursor(last.start_time, last.id) if last else None)


def clip_detail(request: Request, clip_id: int) -> dict[str, Any]:
    """One clip with what the player needs: fps and frame count of the file itself."""
    with catalog_of(request).session() as session:
        rows = clip_rows(session, clip_id=clip_id, limit=1).rows
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


@router.get("/clips", response_model=ClipPage, tags=["clips"], responses=errors(400, 404))
def clips(
    request: Request,
    _user: Reader,
    camera: CameraName = None,
    review_state: Annotated[str | None, Query(description="pending, approved or rejected")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    after: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CURSOR_PATTERN,
            description="next_after of the previous page: continue the list after it.",
        ),
    ] = None,
) -> dict[str, Any]:
    _one_of(review_state, REVIEW_STATES, "review_state")
    with catalog_of(request).session() as session:
        page = clip_rows(session, camera, review_state, limit=limit, offset=offset, after=after)
    return {
        "items": page.rows,
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "next_after": page.next_after,
    }


@router.get("/clips/{clip_id}", response_model=ClipDetail, tags=["clips"], responses=errors(404))
def clip(
    request: Request, clip_id: Annotated[int, PathParam(ge=1, le=MAX_INT)], _user: Reader
) -> dict[str, Any]:
    return clip_detail(request, clip_id)


@router.get("/provenance/events", response_model=EventPage, tags=["provenance"])
def events(
    request: Request,
    _user: Reader,
    after: Annotated[
        int, Query(ge=0, le=MAX_INT, description="Return events with seq above this.")
    ] = 0,
    limit: Limit = 100,
    action: Annotated[str | None, Query(max_length=32)] = None,
    subject_type: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    # Keyset paging on seq: stable while new events are appended, cheap on millions of rows.
    with catalog_of(request).session() as session:
        rows = events_after(
            session,
            after,
            limit,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
        )
        items = [EventOut.model_validate(r) for r in rows]
    return EventPage(items=items, next_after=items[-1].seq if len(items) == limit else None)


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    """Query times without a zone are UTC, as on the command line."""
    try:
        return to_utc(value)
    except OverflowError:
        raise HTTPException(400, f"{name}: {value.isoformat()} is out of range in UTC") from None
