"""What happened in the catalog since a cursor, as plant events (docs/mqtt.md): defects found,
repair jobs done (repaired, unrepairable), failed repair attempts (each one, whether the job is
retried or given up on: failed, dead), review decisions.

Read from the catalog rather than sent by the process that did the work, so the daemon reports
what every process did: its own workers, `gapfill worker` on other hosts, the review UI of
`gapfill serve`. A cursor starts at the catalog's present, so a (re)started daemon announces what
happens from then on and never replays the past."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gapfill.catalog.models import (
    Camera,
    Defect,
    Model,
    RepairAttempt,
    RepairJob,
    SyntheticClip,
    SyntheticSpan,
)

BATCH = 500  # events per look; the rest come at the next one


@dataclass(frozen=True)
class Cursor:
    defect_id: int
    job_finished_at: dt.datetime | None  # of the last job done
    attempt_id: int  # of the last failed attempt
    reviewed_at: dt.datetime | None


@dataclass(frozen=True)
class PlantEvent:
    camera: str
    kind: str  # defect, repair, review: the last part of the topic
    payload: dict[str, Any]


def present(session: Session) -> Cursor:
    """The cursor at the catalog's present: nothing before it is announced."""
    return Cursor(
        session.scalar(select(func.max(Defect.id))) or 0,
        session.scalar(select(func.max(RepairJob.finished_at))),
        session.scalar(select(func.max(RepairAttempt.id))) or 0,
        session.scalar(select(func.max(SyntheticClip.reviewed_at))),
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def events_since(session: Session, cursor: Cursor) -> tuple[list[PlantEvent], Cursor]:
    """Events after `cursor`, oldest first within each kind, and the cursor after them."""
    events: list[PlantEvent] = []
    defects = session.execute(
        select(Defect, Camera.name)
        .join(Camera, Defect.camera_id == Camera.id)
        .where(Defect.id > cursor.defect_id)
        .order_by(Defect.id)
        .limit(BATCH)
    ).all()
    for defect, camera in defects:
        events.append(PlantEvent(camera, "defect", _defect_payload(defect, camera)))
    defect_id = defects[-1][0].id if defects else cursor.defect_id

    # Failed attempts before jobs done: a job's failures come before its success, also when
    # both happened since the last look.
    attempts = session.execute(
        select(RepairAttempt, RepairJob, Defect, Camera.name)
        .join(RepairJob, RepairAttempt.job_id == RepairJob.id)
        .join(Defect, RepairJob.defect_id == Defect.id)
        .join(Camera, Defect.camera_id == Camera.id)
        .where(RepairAttempt.id > cursor.attempt_id)
        .order_by(RepairAttempt.id)
        .limit(BATCH)
    ).all()
    for attempt, job, defect, camera in attempts:
        payload = _attempt_payload(attempt, job, defect, camera)
        events.append(PlantEvent(camera, "repair", payload))
    attempt_id = attempts[-1][0].id if attempts else cursor.attempt_id

    query = (
        select(RepairJob, Defect, Camera.name)
        .join(Defect, RepairJob.defect_id == Defect.id)
        .join(Camera, Defect.camera_id == Camera.id)
        .where(RepairJob.state == "done", RepairJob.finished_at.is_not(None))
        .order_by(RepairJob.finished_at, RepairJob.id)
        .limit(BATCH)
    )
    if cursor.job_finished_at is not None:
        query = query.where(RepairJob.finished_at > cursor.job_finished_at)
    jobs = session.execute(query).all()
    for job, defect, camera in jobs:
        events.append(PlantEvent(camera, "repair", _repair_payload(session, job, defect, camera)))
    finished_at = jobs[-1][0].finished_at if jobs else cursor.job_finished_at

    query = (
        select(SyntheticClip, Camera.name)
        .join(Camera, SyntheticClip.camera_id == Camera.id)
        .where(SyntheticClip.reviewed_at.is_not(None))
        .order_by(SyntheticClip.reviewed_at, SyntheticClip.id)
        .limit(BATCH)
    )
    if cursor.reviewed_at is not None:
        query = query.where(SyntheticClip.reviewed_at > cursor.reviewed_at)
    clips = session.execute(query).all()
    for clip, camera in clips:
        events.append(PlantEvent(camera, "review", _review_payload(clip, camera)))
    reviewed_at = clips[-1][0].reviewed_at if clips else cursor.reviewed_at
    return events, Cursor(defect_id, finished_at, attempt_id, reviewed_at)


def _defect_payload(defect: Defect, camera: str) -> dict[str, Any]:
    return {
        "event": "defect",
        "camera": camera,
        "defect_id": defect.id,
        "kind": defect.kind,
        "detector": defect.detector,
        "start": _iso(defect.start_time),
        "end": _iso(defect.end_time),
        "seconds": round((defect.end_time - defect.start_time).total_seconds(), 3),
        "state": defect.state,
    }


def _repair_payload(
    session: Session, job: RepairJob, defect: Defect, camera: str
) -> dict[str, Any]:
    """A job done: repaired (its clip, model and synthetic frames), or found unrepairable."""
    clip = session.scalar(
        select(SyntheticClip)
        .where(SyntheticClip.defect_id == defect.id)
        .order_by(SyntheticClip.id.desc())
        .limit(1)
    )
    outcome = "repaired" if clip is not None else defect.state  # e.g. unrepairable
    payload = _repair_fields(outcome, job, defect, camera)
    payload.update(finished_at=_iso(job.finished_at))
    if clip is not None and outcome == "repaired":
        model = session.get(Model, clip.model_id) if clip.model_id is not None else None
        spans = session.execute(
            select(SyntheticSpan.frame_start, SyntheticSpan.frame_end)
            .where(SyntheticSpan.clip_id == clip.id)
            .order_by(SyntheticSpan.frame_start)
        ).all()
        payload.update(
            clip_path=clip.path,
            provenance_id=clip.provenance_id,
            model=None if model is None else {"name": model.name, "sha256": model.sha256},
            synthetic_frames=[[start, end] for start, end in spans],
        )
    return payload


def _attempt_payload(
    attempt: RepairAttempt, job: RepairJob, defect: Defect, camera: str
) -> dict[str, Any]:
    """A failed attempt: retrying (the job is queued again) or given up on (failed, dead)."""
    payload = _repair_fields(attempt.outcome, job, defect, camera)
    payload.update(
        attempts=attempt.attempt,
        max_attempts=attempt.max_attempts,
        will_retry=attempt.outcome == "retrying",
        retry_at=_iso(attempt.retry_at),
        error=attempt.error,
        finished_at=_iso(attempt.failed_at),
    )
    return payload


def _repair_fields(outcome: str, job: RepairJob, defect: Defect, camera: str) -> dict[str, Any]:
    """Every field of a repair event, as a job done leaves them; a failed attempt overrides
    its own (attempt number, error, retry)."""
    return {
        "event": "repair",
        "camera": camera,
        "outcome": outcome,
        "job_id": job.id,
        "defect_id": defect.id,
        "kind": defect.kind,
        "start": _iso(defect.start_time),
        "end": _iso(defect.end_time),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "will_retry": False,
        "retry_at": None,
        "error": None,
        "finished_at": None,
        "clip_path": None,
        "provenance_id": None,
        "model": None,
        "synthetic_frames": [],
    }


def _review_payload(clip: SyntheticClip, camera: str) -> dict[str, Any]:
    return {
        "event": "review",
        "camera": camera,
        "clip_id": clip.id,
        "defect_id": clip.defect_id,
        "decision": clip.review_state,
        "reviewed_at": _iso(clip.reviewed_at),
        "comment": clip.review_comment,
        "clip_path": clip.path,
        "provenance_id": clip.provenance_id,
    }
