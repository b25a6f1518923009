"""The repair queue's statements on repair_jobs (and repair_attempts, the failed attempts): the
claim, the lease, the listings.

The decisions (backoff, when a job is dead, who may finish it) stay in gapfill.jobs.queue; this
module holds the statements those decisions run, so that the locking is written once:

- A claim reads with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on many hosts
  take different jobs without waiting on each other. SQLite has no row locks; there the caller
  takes the database write lock first (gapfill.catalog.db.sqlite_write_lock).
- A job or defect about to be changed is read FOR UPDATE on PostgreSQL (`locked_job`).
- Lease renewal, completion and release are conditional UPDATEs: they change the row only while
  it is still the caller's attempt, and say whether they did.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, func, literal_column, select, update
from sqlalchemy.orm import Session

from gapfill.catalog.models import Defect, RepairAttempt, RepairJob, UtcDateTime
from gapfill.catalog.queries.paging import Page, page

LIVE_STATES = ("queued", "running")


def _row_locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _not_before(session: Session) -> ColumnElement[dt.datetime]:
    """not_before as the queued claim compares it. SQLite without statistics would take the
    not_before range of ix_repair_jobs_state_not_before and sort every due job by claim order;
    a unary + (a no-op on the value) takes the term off the index, as SQLite's planner documents,
    so it walks ix_repair_jobs_claim_order, whose columns are the ORDER BY, and stops at the
    first due job. PostgreSQL picks the ordered walk for a LIMIT 1 by itself."""
    if _row_locks(session):
        return RepairJob.not_before
    return literal_column("+repair_jobs.not_before", type_=UtcDateTime())


def locked_job(session: Session, job_id: int) -> RepairJob | None:
    """The job, row-locked until the transaction ends where the database has row locks."""
    return session.get(RepairJob, job_id, with_for_update=_row_locks(session))


def locked_defect(session: Session, defect_id: int) -> Defect | None:
    """The defect, row-locked until the transaction ends where the database has row locks."""
    return session.get(Defect, defect_id, with_for_update=_row_locks(session))


def live_job(session: Session, defect_id: int) -> RepairJob | None:
    """The defect's queued or running job, if it has one (a partial unique index allows one)."""
    return session.scalar(
        select(RepairJob).where(RepairJob.defect_id == defect_id, RepairJob.state.in_(LIVE_STATES))
    )


def next_claimable(
    session: Session, now: dt.datetime, job_id: int | None = None
) -> RepairJob | None:
    """The next claimable job (only `job_id`, when given), locked and skipped by other claimers
    on PostgreSQL: first a running job whose lease expired before `now`, oldest first, else a
    queued one past its backoff, in claim order: busiest period first (claim_rank, 1 - the
    activity around its defect), then the one waiting longest."""
    # Two queries, not one with an OR: each walks an index from its own state, so a claim costs
    # the same with 60,000 jobs queued (and years of done ones) as with ten. An OR of the two
    # made both databases scan and sort the whole table. Silent workers' jobs go first: they
    # have waited longest. The queued walk follows ix_repair_jobs_claim_order, whose columns are
    # the ORDER BY, and stops at the first row past its backoff: no sort of the queue
    # (_not_before says how SQLite is kept on it).
    reclaimable = (RepairJob.state == "running") & (RepairJob.lease_expires_at < now)
    queued = (RepairJob.state == "queued") & (_not_before(session) <= now)
    for claimable, order in (
        (reclaimable, (RepairJob.not_before, RepairJob.id)),
        (queued, (RepairJob.claim_rank, RepairJob.not_before, RepairJob.id)),
    ):
        query = select(RepairJob).where(claimable).order_by(*order).limit(1)
        if job_id is not None:
            query = query.where(RepairJob.id == job_id)
        if _row_locks(session):
            query = query.with_for_update(skip_locked=True)
        job = session.scalars(query).first()
        if job is not None:
            return job
    return None


def _attempt(job_id: int, worker: str, attempt: int) -> tuple:
    """The rows of one attempt: the job, still running, claimed by `worker` for `attempt`."""
    return (
        RepairJob.id == job_id,
        RepairJob.state == "running",
        RepairJob.claimed_by == worker,
        RepairJob.attempts == attempt,
    )


def renew_lease(
    session: Session, job_id: int, worker: str, attempt: int, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Extend the attempt's lease; False when the job is no longer that attempt's."""
    result = session.execute(
        update(RepairJob)
        .where(*_attempt(job_id, worker, attempt))
        .values(heartbeat_at=now, lease_expires_at=now + lease)
    )
    return result.rowcount == 1


def mark_job_done(session: Session, job_id: int, now: dt.datetime) -> None:
    session.execute(
        update(RepairJob)
        .where(RepairJob.id == job_id)
        .values(state="done", finished_at=now, lease_expires_at=None, error=None)
    )


def record_failed_attempt(
    session: Session, job: RepairJob, worker: str | None, error: str, now: dt.datetime
) -> None:
    """Append the failure of `job`'s current attempt, with what became of the job: call it after
    the job's state is decided (queued again until not_before, failed or dead)."""
    retrying = job.state == "queued"
    session.add(
        RepairAttempt(
            job_id=job.id,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            outcome="retrying" if retrying else job.state,
            retry_at=job.not_before if retrying else None,
            worker=worker,
            error=error,
            failed_at=now,
        )
    )


def requeue_attempt(
    session: Session, job_id: int, worker: str, attempt: int, now: dt.datetime
) -> bool:
    """Put the attempt's job back in the queue as if it had not been claimed (the attempt does
    not count); False when the job is no longer that attempt's."""
    result = session.execute(
        update(RepairJob)
        .where(*_attempt(job_id, worker, attempt))
        .values(
            state="queued",
            claimed_by=None,
            lease_expires_at=None,
            attempts=RepairJob.attempts - 1,
            not_before=now,
        )
    )
    return result.rowcount == 1


def newest_jobs(session: Session, state: str | None, limit: int) -> list[RepairJob]:
    """The newest `limit` jobs (only those in `state` when given), newest first."""
    query = select(RepairJob).order_by(RepairJob.id.desc()).limit(limit)
    if state is not None:
        query = query.where(RepairJob.state == state)
    return list(session.scalars(query))


def jobs_page(session: Session, state: str | None, limit: int, offset: int) -> Page[RepairJob]:
    """A page of the jobs (only those in `state` when given), newest first."""
    query = select(RepairJob).order_by(RepairJob.id.desc())
    if state is not None:
        query = query.where(RepairJob.state == state)
    return page(session, query, limit, offset)


def job_counts(session: Session) -> dict[str, int]:
    """Number of jobs in each state that has any."""
    rows = session.execute(select(RepairJob.state, func.count()).group_by(RepairJob.state))
    return {state: count for state, count in rows}


def jobs_runnable_by(session: Session, end: dt.datetime) -> int:
    """Jobs running now, and queued ones due before `end`."""
    return session.scalar(
        select(func.count())
        .select_from(RepairJob)
        .where(
            (RepairJob.state == "running")
            | ((RepairJob.state == "queued") & (RepairJob.not_before <= end))
        )
    )
