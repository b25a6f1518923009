"""The repair queue, kept in the catalog's repair_jobs table.

Life of a job: queued -> running (claimed by one worker, with a lease it renews by heartbeat) ->
done; or -> queued again after a failure (with exponential backoff) until max_attempts, then dead
(kept with its error for people to see). A worker that goes silent loses its lease, and the job is
claimable again. Cancelled jobs stay as a record.

Claiming uses `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on many hosts take
different jobs without waiting on each other. SQLite has no row locks; there one writer process
claims at a time (SQLite serialises writers), which is the embedded single-box case. The
statements, locks included, are in gapfill.catalog.queries.jobs; the decisions are here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gapfill.catalog.db import sqlite_write_lock
from gapfill.catalog.models import JOB_STATES, RepairJob, utcnow
from gapfill.catalog.queries import defects as defects_q
from gapfill.catalog.queries import jobs as jobs_q
from gapfill.errors import UserError
from gapfill.jobs import activity

log = logging.getLogger(__name__)

DEFAULT_LEASE = dt.timedelta(minutes=10)
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=1)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    job_id: int
    defect_id: int
    attempt: int
    worker: str


def enqueue(
    session: Session,
    defect_ids: list[int],
    max_attempts: int = 3,
    measured: dict[int, float | None] | None = None,
) -> list[int]:
    """Queue a job for each open defect that has no live job; returns the new job ids. Each job
    takes its place in the claim order from the activity around its defect (activity.py; from
    `measured` when the caller already has it). The partial unique index on repair_jobs makes a
    racing second enqueue fail, not duplicate."""
    job_ids = []
    for defect_id in defect_ids:
        if jobs_q.live_job(session, defect_id) is not None:
            continue
        if measured is not None and defect_id in measured:
            found = measured[defect_id]
        else:
            found = defect_activity(session, defect_id)
        job = RepairJob(
            defect_id=defect_id,
            state="queued",
            max_attempts=max_attempts,
            claim_rank=activity.claim_rank(found),
        )
        session.add(job)
        session.flush()
        defects_q.mark_defect_queued(session, defect_id, found)
        job_ids.append(job.id)
    return job_ids


def defect_activity(session: Session, defect_id: int) -> float | None:
    """The activity around the defect now (None: unknown), from the catalog's recordings."""
    flanks = defects_q.flanking_counts(session, defect_id)
    return activity.activity(activity.FlankCounts(*flank) for flank in flanks)


def claim_next(
    session: Session,
    worker: str,
    lease: dt.timedelta = DEFAULT_LEASE,
    job_id: int | None = None,
    now: dt.datetime | None = None,
) -> Claim | None:
    """Take the next claimable job (a running one whose lease expired, oldest first; else a
    queued one past its backoff, busiest period first, then oldest) and mark it running for
    `worker`. Commit promptly: the row lock is held until then."""
    now = now or utcnow()
    sqlite_write_lock(session)
    job = jobs_q.next_claimable(session, now, job_id)
    if job is None:
        return None
    if job.state == "running":
        # Its worker vanished mid-attempt (the lease ran out): that attempt failed.
        lost = f"lease expired on {job.claimed_by}"
        if job.attempts >= job.max_attempts:  # and it was the last one: nothing more to try
            job.state, job.finished_at = "dead", now
            job.error = (job.error or "") + f" {lost}; attempts exhausted"
            jobs_q.record_failed_attempt(session, job, job.claimed_by, lost, now)
            session.flush()
            return claim_next(session, worker, lease, job_id, now)
        job.state, job.not_before, job.error = "queued", now, lost  # retried now, by this claim
        jobs_q.record_failed_attempt(session, job, job.claimed_by, lost, now)
    job.state = "running"
    job.attempts += 1
    job.claimed_by = worker
    job.heartbeat_at = now
    job.lease_expires_at = now + lease
    job.started_at = job.started_at or now
    session.flush()
    return Claim(job.id, job.defect_id, job.attempts, worker)


def heartbeat(session: Session, claim: Claim, lease: dt.timedelta = DEFAULT_LEASE) -> bool:
    """Renew the lease. False means the job is no longer ours (reclaimed or cancelled): stop."""
    return jobs_q.renew_lease(session, claim.job_id, claim.worker, claim.attempt, utcnow(), lease)


def still_ours(session: Session, claim: Claim) -> bool:
    job = jobs_q.locked_job(session, claim.job_id)
    return (
        job is not None
        and job.state == "running"
        and job.claimed_by == claim.worker
        and job.attempts == claim.attempt
    )


def complete(session: Session, claim: Claim) -> bool:
    """Mark done, only if we still hold the job (a reclaimed job's late finisher must not)."""
    if not still_ours(session, claim):
        return False
    jobs_q.mark_job_done(session, claim.job_id, utcnow())
    return True


def fail(session: Session, claim: Claim, error: str, retry: bool = True) -> str:
    """Record a failure: back to the queue with backoff, or dead when attempts are used up or
    the error is not worth retrying. Returns the new state."""
    job = jobs_q.locked_job(session, claim.job_id)
    if (
        job is None
        or job.state != "running"  # cancelled meanwhile: a failure must not revive it
        or job.claimed_by != claim.worker
        or job.attempts != claim.attempt
    ):
        return "lost"
    now = utcnow()
    job.error = error[:4000]
    job.lease_expires_at = None
    if retry and job.attempts < job.max_attempts:
        backoff = min(BACKOFF_BASE * (2 ** (job.attempts - 1)), BACKOFF_MAX)
        job.state, job.not_before, job.claimed_by = "queued", now + backoff, None
    else:
        job.state, job.finished_at = ("dead" if retry else "failed"), now
    jobs_q.record_failed_attempt(session, job, claim.worker, job.error, now)
    session.flush()
    return job.state


def release(session: Session, claim: Claim) -> bool:
    """Give a running job back untouched (graceful shutdown): the attempt does not count."""
    return jobs_q.requeue_attempt(session, claim.job_id, claim.worker, claim.attempt, utcnow())


# --- what people and the daemon do with the queue ------------------------------------------------

LIVE_STATES = jobs_q.LIVE_STATES


@dataclass(frozen=True)
class Queued:
    """What one pass over the open defects did."""

    job_ids: list[int]
    ignored: list[int]  # defects left alone: their activity is below repair_min_activity


def queue_open(session: Session, min_activity: float = 0.0, max_attempts: int = 3) -> Queued:
    """Queue a job for every open defect (oldest first), except those whose known activity is
    below `min_activity` (repair_min_activity; 0 skips none): they become `ignored` with the
    reason, and an INFO log line says so, never silently. An unknown activity is never skipped.
    The daemon calls this after each scan and at the start of each repair window."""
    open_ids = defects_q.defect_ids(session, defects_q.DefectFilter(state="open"))
    if min_activity <= 0:
        return Queued(enqueue(session, open_ids, max_attempts), [])
    wanted: list[int] = []
    ignored: list[int] = []
    measured: dict[int, float | None] = {}
    for defect_id in open_ids:
        found = measured[defect_id] = defect_activity(session, defect_id)
        if found is not None and activity.too_still(found, min_activity):
            reason = activity.still_reason(found, min_activity)
            defects_q.mark_defect_ignored(session, defect_id, found, reason)
            log.info("ignored", extra={"defect_id": defect_id, "reason": reason})
            ignored.append(defect_id)
        else:
            wanted.append(defect_id)
    return Queued(enqueue(session, wanted, max_attempts, measured), ignored)


def enqueue_open(session: Session, max_attempts: int = 3, min_activity: float = 0.0) -> list[int]:
    """Queue a job for every open defect not too still (queue_open); returns the new job ids."""
    return queue_open(session, min_activity, max_attempts).job_ids


def list_jobs(session: Session, state: str | None = None, limit: int = 1000) -> list[RepairJob]:
    """Jobs, newest last; only those in `state` when given."""
    # The newest `limit` rows, returned oldest first.
    return jobs_q.newest_jobs(session, state, limit)[::-1]


def counts_by_state(session: Session) -> dict[str, int]:
    """Number of jobs in each state (every state present, zeros included)."""
    return {**dict.fromkeys(JOB_STATES, 0), **jobs_q.job_counts(session)}


def retry(session: Session, job_id: int, max_attempts: int = 3) -> RepairJob:
    """Run a job again now. A queued job waiting out its backoff becomes claimable at once; a
    failed, dead or cancelled job gets a fresh successor (the old row stays as the record of what
    happened) and its defect is queued again. Raises UserError when there is nothing to retry."""
    job = jobs_q.locked_job(session, job_id)
    if job is None:
        raise UserError(f"jobs retry: no job {job_id}")
    if job.state == "running":
        raise UserError(f"jobs retry: job {job_id} is running on {job.claimed_by}")
    if job.state == "queued":
        job.not_before = utcnow()
        session.flush()
        return job
    defect = jobs_q.locked_defect(session, job.defect_id)
    assert defect is not None  # foreign key
    if defect.state == "repaired":
        raise UserError(f"jobs retry: defect {defect.id} of job {job_id} is already repaired")
    live = jobs_q.live_job(session, defect.id)
    if live is not None:
        raise UserError(f"jobs retry: defect {defect.id} already has live job {live.id}")
    # A person asking again overrides an earlier verdict (unrepairable, ignored by a cancel).
    defect.state, defect.state_reason = "open", None
    session.flush()
    [new_id] = enqueue(session, [defect.id], max_attempts)
    new = session.get(RepairJob, new_id)
    assert new is not None
    return new


def queue_defect(session: Session, defect_id: int, max_attempts: int = 3) -> RepairJob:
    """Queue one defect now, whatever its activity: a person overriding the queue's verdict
    (ignored as too still, cancelled, unrepairable). Raises UserError when it cannot be."""
    defect = jobs_q.locked_defect(session, defect_id)
    if defect is None:
        raise UserError(f"jobs queue --defect: no defect {defect_id}")
    if defect.state == "repaired":
        raise UserError(f"jobs queue --defect: defect {defect_id} is already repaired")
    live = jobs_q.live_job(session, defect_id)
    if live is not None:
        raise UserError(f"jobs queue --defect: defect {defect_id} already has live job {live.id}")
    defect.state, defect.state_reason = "open", None
    session.flush()
    [job_id] = enqueue(session, [defect_id], max_attempts)
    job = session.get(RepairJob, job_id)
    assert job is not None
    return job


def cancel(session: Session, job_id: int, by: str) -> RepairJob:
    """Stop a queued or running job from being (re)tried; its defect becomes `ignored` with the
    reason, so the next scan does not queue it again. A running attempt is not interrupted: its
    worker sees the cancel at its next heartbeat, and does not mark the job done."""
    job = jobs_q.locked_job(session, job_id)
    if job is None:
        raise UserError(f"jobs cancel: no job {job_id}")
    if job.state not in LIVE_STATES:
        raise UserError(f"jobs cancel: job {job_id} is {job.state}, not queued or running")
    where = f" while running on {job.claimed_by}" if job.state == "running" else ""
    job.state, job.finished_at, job.lease_expires_at = "cancelled", utcnow(), None
    job.error = f"cancelled by {by}{where}"
    defect = jobs_q.locked_defect(session, job.defect_id)
    if defect is not None and defect.state in ("open", "queued"):
        defect.state, defect.state_reason = "ignored", f"repair job {job_id} cancelled by {by}"
    session.flush()
    return job
