"""Response and request bodies of the HTTP API, as pydantic models: they are the OpenAPI schema
that integrators read, so every field says what it holds."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Catalog ids, sequence numbers and offsets are 32-bit INTEGER columns on PostgreSQL, and SQLite
# cannot even bind a Python int past 2**63 - 1: a larger number in a request is a 422, not a
# database error.
MAX_INT = 2**31 - 1


class ErrorOut(BaseModel):
    """Every error response of the API: one line saying what was wrong."""

    detail: str = Field(description="What was refused and why, in one line.")


_ERRORS = {
    400: "A filter or field value is not allowed (detail says which and why).",
    401: "Not authenticated: send `Authorization: Bearer <token>`, or log in.",
    403: "The caller's role may not do this (or a session write lacks its CSRF token).",
    404: "The clip, camera, user or frame named does not exist.",
    409: "The clip is already in that state, or was reviewed meanwhile: reload it.",
    413: "Request body over the size limit.",
    422: "A parameter or body field is malformed (detail names the first one).",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses an operation can answer."""
    return {code: {"model": ErrorOut, "description": _ERRORS[code]} for code in codes}


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; ask again with offset + limit for the next."""

    items: list[T]
    total: int = Field(description="Rows matching the filters, over all pages.")
    limit: int
    offset: int


class CameraOut(_Row):
    id: int
    name: str
    nominal_fps: float | None
    cadence_fps: float | None = Field(description="The rate the camera really delivers.")
    width: int | None
    height: int | None
    source_dir: str | None
    default_model_id: int | None
    created_at: dt.datetime


class RecordingOut(_Row):
    id: int
    camera_id: int
    path: str
    start_time: dt.datetime
    end_time: dt.datetime
    duration_s: float
    frame_count: int
    fps: float | None
    codec: str | None
    width: int | None
    height: int | None
    size_bytes: int
    sha256: str
    status: str = Field(description="ok, damaged or unreadable.")
    status_reason: str | None
    scanned_at: dt.datetime | None


class DefectOut(_Row):
    id: int
    camera_id: int
    recording_id: int | None
    kind: str
    start_time: dt.datetime
    end_time: dt.datetime
    frame_start: int | None
    frame_end: int | None
    detector: str
    figures: dict[str, Any]
    state: str
    state_reason: str | None
    activity: float | None = Field(
        description="Around the span when it was queued: 0 still .. 1 busy, from Frigate's "
        "motion and object counts on the flanking recordings; null when unknown or not queued."
    )


class JobOut(_Row):
    id: int
    defect_id: int
    state: str
    claim_rank: float = Field(
        description="Claim order of a queued job, smaller first: 1 - the activity around its "
        "defect (0.5 when unknown); equal ranks go oldest first."
    )
    attempts: int
    max_attempts: int
    claimed_by: str | None
    heartbeat_at: dt.datetime | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ModelOut(_Row):
    id: int
    name: str
    sha256: str
    path: str
    parent_id: int | None
    camera_id: int | None
    training_summary: dict[str, Any]
    metrics: dict[str, Any]
    created_at: dt.datetime


class SpanOut(_Row):
    id: int
    frame_start: int = Field(description="First synthetic frame (index within the clip file).")
    frame_end: int = Field(description="One past the last synthetic frame.")
    start_time: dt.datetime
    end_time: dt.datetime
    defect_id: int | None


class ClipOut(_Row):
    id: int
    job_id: int | None
    defect_id: int
    camera_id: int
    camera: str
    sha256: str
    size_bytes: int
    model_id: int | None
    model_name: str | None
    parameters: dict[str, Any]
    seed: int
    fill_seconds: float | None = Field(
        description="Wall seconds the model took to generate the synthetic frames (the backend "
        "and provider are in parameters); null for clips made before gapfill recorded it."
    )
    repair_seconds: float | None = Field(
        description="Wall seconds of the whole repair that made the clip (plan, read, fill, "
        "compose, encode, sign, record); null for clips made before gapfill recorded it."
    )
    provenance_id: str
    start_time: dt.datetime
    end_time: dt.datetime
    review_state: str = Field(description="pending, approved or rejected.")
    activity: float | None = Field(
        description="Around the repaired defect when it was queued: 0 still .. 1 busy, from "
        "Frigate's motion and object counts; null when unknown (no Frigate counts)."
    )
    reviewer: str | None
    reviewed_at: dt.datetime | None
    review_comment: str | None
    created_at: dt.datetime
    spans: list[SpanOut]
    video_url: str = Field(description="The clip file, served by id with HTTP Range support.")


class ClipPage(Page[ClipOut]):
    """One page of clips. Pass next_after as `after` for the next page: unlike a growing
    offset, that stays one index walk however deep the page is."""

    next_after: str | None = Field(description="Cursor of the next page, or null at the end.")


class ClipDetail(ClipOut):
    fps: float | None = Field(description="Frame rate of the clip file.")
    frame_count: int = Field(description="Frames in the clip file.")
    width: int | None
    height: int | None
    media_error: str | None = Field(description="Why the file cannot be shown, if it cannot.")


class EventOut(_Row):
    seq: int
    created_at: dt.datetime
    action: str
    actor: str
    subject_type: str
    subject_id: str
    payload: str = Field(description="Canonical JSON text exactly as hashed.")
    prev_hash: str
    hash: str


class EventPage(BaseModel):
    """Provenance events in seq order; pass next_after as `after` for the next page."""

    items: list[EventOut]
    next_after: int | None = Field(description="Last seq of this page, or null at the end.")


class ReviewIn(BaseModel):
    comment: str | None = Field(None, max_length=4000, description="Why; required when rejecting.")


class ReviewOut(BaseModel):
    clip_id: int
    review_state: Literal["approved", "rejected"]
    reviewer: str
    reviewed_at: dt.datetime
    review_comment: str | None
    provenance_seq: int = Field(description="The review's event in the provenance chain.")


class AuditRow(BaseModel):
    """One synthetic frame range, as `gapfill audit --json` prints it."""

    camera: str
    start_time: dt.datetime
    end_time: dt.datetime
    frame_start: int
    frame_end: int
    frames: int
    clip_id: int
    clip_path: str
    provenance_id: str
    model_name: str | None
    model_sha256: str | None
    model_change: str | None = Field(
        description="kept: the frames carry the model's learned change; dropped or "
        "no-check-context: its classical first guess alone (the change did not beat it on the "
        "camera's footage, or there was too little to check); null: not recorded."
    )
    review_state: str
    reviewer: str | None
    reviewed_at: dt.datetime | None
    seed: int
    parameters: dict[str, Any]
    inputs: list[dict[str, Any]] = Field(description="Originals the repair read: path, sha256.")
    span_id: int
    defect_id: int | None


class ProblemOut(BaseModel):
    subject: str
    message: str


class VerifyOut(BaseModel):
    ok: bool
    clips_checked: int
    recordings_checked: int
    models_checked: int
    chain_events_checked: int
    problems: list[ProblemOut]


class UserOut(BaseModel):
    name: str
    role: str
    disabled: bool
    live_tokens: int
    token_prefixes: str
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: Literal["viewer", "engineer", "auditor", "admin"]


class UserCreated(BaseModel):
    name: str
    role: str
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


class Revoked(BaseModel):
    name: str
    revoked_tokens: int = Field(description="Live tokens of the user that were revoked.")


class Me(BaseModel):
    name: str
    role: str
    permissions: list[str]
