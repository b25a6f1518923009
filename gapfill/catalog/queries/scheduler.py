"""What the daemon asks the database itself: does it answer, and what schedule did the last
daemon store (APScheduler's job store table)."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text


def ping(engine: Engine) -> None:
    """Round-trip one trivial statement; raises whatever the driver raises when it cannot."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def stored_next_runs(engine: Engine, table: str) -> list[tuple[str, float | None]]:
    """(job id, next run as a POSIX time or None) of each job in the job store `table`; empty
    when there is no such table (no daemon has run yet)."""
    if not inspect(engine).has_table(table):
        return []
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, next_run_time FROM {table}")).all()
    return [(job_id, stamp) for job_id, stamp in rows]
