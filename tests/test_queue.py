"""The repair queue on SQLite and PostgreSQL: claims, leases, retries, dead jobs, releases."""

from __future__ import annotations

import datetime as dt

import pytest
from test_jobs import make_defects

from gapfill.catalog.db import Catalog, upgrade
from gapfill.catalog.models import Defect, RepairJob
from gapfill.jobs import queue

T0 = dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)


def test_enqueue_is_idempotent_and_marks_defects_queued(catalog: Catalog) -> None:
    ids = make_defects(catalog, 3)
    with catalog.session() as session:
        assert len(queue.enqueue(session, ids)) == 3
        assert queue.enqueue(session, ids) == []
    with catalog.session() as session:
        assert {session.get(Defect, i).state for i in ids} == {"queued"}


def test_claim_complete_and_no_double_claim(catalog: Catalog) -> None:
    ids = make_defects(catalog, 2)
    with catalog.session() as session:
        queue.enqueue(session, ids)
    with catalog.session() as a:
        first = queue.claim_next(a, "a:1")
    with catalog.session() as b:
        second = queue.claim_next(b, "b:1")
    with catalog.session() as c:
        assert queue.claim_next(c, "c:1") is None
    assert {first.defect_id, second.defect_id} == set(ids)
    with catalog.session() as session:
        assert queue.complete(session, first)
        assert session.get(RepairJob, first.job_id).state == "done"


@pytest.mark.postgres
def test_skip_locked_lets_concurrent_workers_take_different_jobs(pg_server) -> None:
    """Row locks are PostgreSQL's: two open claims at once take different jobs, no waiting."""
    catalog_url = pg_server.create_database("skip_locked")
    upgrade(catalog_url)
    catalog = Catalog(catalog_url)
    ids = make_defects(catalog, 2)
    with catalog.session() as session:
        queue.enqueue(session, ids)
    # Two open transactions at once: the first holds its row lock while the second claims.
    with catalog.session() as a, catalog.session() as b:
        first = queue.claim_next(a, "a:1")
        second = queue.claim_next(b, "b:1")
        assert first is not None and second is not None
        assert first.job_id != second.job_id
    catalog.dispose()


def test_silent_worker_loses_its_lease(catalog: Catalog) -> None:
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        queue.enqueue(session, ids)
        lost = queue.claim_next(session, "dead:1", lease=dt.timedelta(seconds=5))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    with catalog.session() as session:
        retaken = queue.claim_next(session, "alive:1", now=later)
    assert retaken is not None and retaken.job_id == lost.job_id and retaken.attempt == 2
    with catalog.session() as session:
        assert not queue.complete(session, lost)  # the late finisher is refused
        assert queue.complete(session, retaken)


def test_failures_back_off_then_die_with_their_error(catalog: Catalog) -> None:
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        queue.enqueue(session, ids, max_attempts=2)
    with catalog.session() as session:
        claim = queue.claim_next(session, "w:1")
        assert queue.fail(session, claim, "boom 1") == "queued"
    with catalog.session() as session:
        assert queue.claim_next(session, "w:1") is None  # backing off
        job = session.get(RepairJob, claim.job_id)
        assert job.not_before > dt.datetime.now(dt.UTC)
    with catalog.session() as session:
        claim = queue.claim_next(session, "w:1", now=dt.datetime.now(dt.UTC) + queue.BACKOFF_MAX)
        assert queue.fail(session, claim, "boom 2") == "dead"
    with catalog.session() as session:
        job = session.get(RepairJob, claim.job_id)
        assert (job.state, job.error, job.attempts) == ("dead", "boom 2", 2)


def test_release_returns_the_job_without_spending_an_attempt(catalog: Catalog) -> None:
    ids = make_defects(catalog, 1)
    with catalog.session() as session:
        queue.enqueue(session, ids)
        claim = queue.claim_next(session, "w:1")
        assert queue.release(session, claim)
    with catalog.session() as session:
        job = session.get(RepairJob, claim.job_id)
        assert (job.state, job.attempts, job.claimed_by) == ("queued", 0, None)


def test_claims_walk_an_index_not_the_whole_table(tmp_path) -> None:
    """A night's queue holds tens of thousands of jobs, beside every job ever done: each claim
    must start from the (state, not_before) index, never scan and sort the table (SQLite's plan;
    benchmarks/site_simulation.py measures it on PostgreSQL)."""
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'plan.sqlite3'}"
    upgrade(url)
    catalog = Catalog(url)
    with catalog.session() as session:
        queue.enqueue(session, make_defects(catalog, 3))
    statements: list[tuple[str, object]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM repair_jobs" in statement:
            statements.append((statement, parameters))

    event.listen(catalog.engine, "before_cursor_execute", remember)
    with catalog.session() as session:
        queue.claim_next(session, "w:1")
    event.remove(catalog.engine, "before_cursor_execute", remember)
    assert len(statements) == 2  # nothing to reclaim, then the next queued job
    # Expired leases walk (state, not_before); queued jobs (state, claim_rank, not_before, id),
    # the claim order itself, so neither sorts.
    indexes = ["ix_repair_jobs_state_not_before", "ix_repair_jobs_claim_order"]
    with catalog.engine.connect() as connection:
        for (statement, parameters), index in zip(statements, indexes, strict=True):
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = " | ".join(row[-1] for row in plan)
            assert index in details, details
            assert "SCAN repair_jobs" not in details, details
            assert "TEMP B-TREE" not in details, details
    catalog.dispose()
