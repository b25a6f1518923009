"""The repair queue, kept in the catalog's repair_jobs table.

Life of a job: queued -> running (claimed by one worker, with a lease it renews by heartbeat) ->
done; or -> queued again after a failure (with exponential backoff) until max_attempts, then dead
(kept with its error for people to see). A worker that goes silent loses its lease, and the job is
claimable again. Cancelled jobs stay as a record.

Claiming uses `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on many hosts take
different jobs without waiting on each other. SQLite has no row locks; there one writer process
claims at a time (SQLite serialises writers), which is the embedded single-box case.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gapfill.catalog.db import sqlite_write_lock
from gapfill.catalog.models import JOB_STATES, Defect, RepairJob, utcnow
from gapfill.errors import UserError

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


def enqueue(session: Session, defect_ids: list[int], max_attempts: int = 3) -> list[int]:
    """Queue a job for each open defect that has no live job; returns the new job ids.
    The partial unique index on repair_jobs makes a racing second enqueue fail, not duplicate."""
    job_ids = []
    for defect_id in defect_ids:
        live = session.scalar(
            select(RepairJob.id).where(
                RepairJob.defect_id == defect_id, RepairJob.state.in_(("queued", "running"))
            )
        )
        if live is not None:
            continue
        job = RepairJob(defect_id=defect_id, state="queued", max_attempts=max_attempts)
        session.add(job)
        session.flush()
        session.execute(update(Defect).where(Defect.id == defect_id).values(state="queued"))
        job_ids.append(job.id)
    return job_ids


def claim_next(
    session: Session,
    worker: str,
    lease: dt.timedelta = DEFAULT_LEASE,
    job_id: int | None = None,
    now: dt.datetime | None = None,
) -> Claim | None:
    """Take the oldest claimable job (queued and past its backoff, or running with an expired
    lease) and mark it running for `worker`. Commit promptly: the row lock is held until then."""
    now = now or utcnow()
    sqlite_write_lock(session)
    # Two queries, not one with an OR: each walks ix_repair_jobs_state_not_before from its own
    # state, so a claim costs the same with 60,000 jobs queued (and years of done ones) as with
    # ten. An OR of the two made both databases scan and sort the whole table. Silent workers'
    # jobs go first: they have waited longest.
    reclaimable = (RepairJob.state == "running") & (RepairJob.lease_expires_at < now)
    queued = (RepairJob.state == "queued") & (RepairJob.not_before <= now)
    job = None
    for claimable in (reclaimable, queued):
        query = (
            select(RepairJob).where(claimable).order_by(RepairJob.not_before, RepairJob.id).limit(1)
        )
        if job_id is not None:
            query = query.where(RepairJob.id == job_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = session.scalars(query).first()
        if job is not None:
            break
    if job is None:
        return None
    if job.state == "running" and job.attempts >= job.max_attempts:
        # Its last attempt died silently: nothing more to try.
        job.state, job.finished_at = "dead", now
        job.error = (job.error or "") + f" lease expired on {job.claimed_by}; attempts exhausted"
        session.flush()
        return claim_next(session, worker, lease, job_id, now)
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
    now = utcnow()
    result = session.execute(
        update(RepairJob)
        .where(
            RepairJob.id == claim.job_id,
            RepairJob.state == "running",
            RepairJob.claimed_by == claim.worker,
            RepairJob.attempts == claim.attempt,
        )
        .values(heartbeat_at=now, lease_expires_at=now + lease)
    )
    return result.rowcount == 1


def still_ours(session: Session, claim: Claim) -> bool:
    job = session.get(RepairJob, claim.job_id, with_for_update=_lock(session))
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
    session.execute(
        update(RepairJob)
        .where(RepairJob.id == claim.job_id)
        .values(state="done", finished_at=utcnow(), lease_expires_at=None, error=None)
    )
    return True


def fail(session: Session, claim: Claim, error: str, retry: bool = True) -> str:
    """Record a failure: back to the queue with backoff, or dead when attempts are used up or
    the error is not worth retrying. Returns the new state."""
    job = session.get(RepairJob, claim.job_id, with_for_update=_lock(session))
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
    session.flush()
    return job.state


def release(session: Session, claim: Claim) -> bool:
    """Give a running job back untouched (graceful shutdown): the attempt does not count."""
    result = session.execute(
        update(RepairJob)
        .where(
            RepairJob.id == claim.job_id,
            RepairJob.state == "running",
            RepairJob.claimed_by == claim.worker,
            RepairJob.attempts == claim.attempt,
        )
        .values(
            state="queued",
            claimed_by=None,
            lease_expires_at=None,
            attempts=RepairJob.attempts - 1,
            not_before=utcnow(),
        )
    )
    return result.rowcount == 1


def _lock(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- what people and the daemon do with the queue ------------------------------------------------

LIVE_STATES = ("queued", "running")


def enqueue_open(session: Session, max_attempts: int = 3) -> list[int]:
    """Queue a job for every open defect (oldest first); returns the new job ids. The daemon calls
    this after each scan and at the start of each repair window."""
    open_ids = list(
        session.scalars(
            select(Defect.id).where(Defect.state == "open").order_by(Defect.start_time, Defect.id)
        )
    )
    return enqueue(session, open_ids, max_attempts)


def list_jobs(session: Session, state: str | None = None, limit: int = 1000) -> list[RepairJob]:
    """Jobs, newest last; only those in `state` when given."""
    query = select(RepairJob).order_by(RepairJob.id.desc()).limit(limit)
    if state is not None:
        query = query.where(RepairJob.state == state)
    # The newest `limit` rows, returned oldest first.
    return list(session.scalars(query))[::-1]


def counts_by_state(session: Session) -> dict[str, int]:
    """Number of jobs in each state (every state present, zeros included)."""
    counts = dict.fromkeys(JOB_STATES, 0)
    for state, count in session.execute(
        select(RepairJob.state, func.count()).group_by(RepairJob.state)
    ):
        counts[state] = count
    return counts


def retry(session: Session, job_id: int, max_attempts: int = 3) -> RepairJob:
    """Run a job again now. A queued job waiting out its backoff becomes claimable at once; a
    failed, dead or cancelled job gets a fresh successor (the old row stays as the record of what
    happened) and its defect is queued again. Raises UserError when there is nothing to retry."""
    job = session.get(RepairJob, job_id, with_for_update=_lock(session))
    if job is None:
        raise UserError(f"jobs retry: no job {job_id}")
    if job.state == "running":
        raise UserError(f"jobs retry: job {job_id} is running on {job.claimed_by}")
    if job.state == "queued":
        job.not_before = utcnow()
        session.flush()
        return job
    defect = session.get(Defect, job.defect_id, with_for_update=_lock(session))
    assert defect is not None  # foreign key
    if defect.state == "repaired":
        raise UserError(f"jobs retry: defect {defect.id} of job {job_id} is already repaired")
    live = session.scalar(
        select(RepairJob).where(RepairJob.defect_id == defect.id, RepairJob.state.in_(LIVE_STATES))
    )
    if live is not None:
        raise UserError(f"jobs retry: defect {defect.id} already has live job {live.id}")
    # A person asking again overrides an earlier verdict (unrepairable, ignored by a cancel).
    defect.state, defect.state_reason = "open", None
    session.flush()
    [new_id] = enqueue(session, [defect.id], max_attempts)
    new = session.get(RepairJob, new_id)
    assert new is not None
    return new


def cancel(session: Session, job_id: int, by: str) -> RepairJob:
    """Stop a queued or running job from being (re)tried; its defect becomes `ignored` with the
    reason, so the next scan does not queue it again. A running attempt is not interrupted: its
    worker sees the cancel at its next heartbeat, and does not mark the job done."""
    job = session.get(RepairJob, job_id, with_for_update=_lock(session))
    if job is None:
        raise UserError(f"jobs cancel: no job {job_id}")
    if job.state not in LIVE_STATES:
        raise UserError(f"jobs cancel: job {job_id} is {job.state}, not queued or running")
    where = f" while running on {job.claimed_by}" if job.state == "running" else ""
    job.state, job.finished_at, job.lease_expires_at = "cancelled", utcnow(), None
    job.error = f"cancelled by {by}{where}"
    defect = session.get(Defect, job.defect_id, with_for_update=_lock(session))
    if defect is not None and defect.state in ("open", "queued"):
        defect.state, defect.state_reason = "ignored", f"repair job {job_id} cancelled by {by}"
    session.flush()
    return job
