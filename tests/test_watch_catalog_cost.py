"""A watch tick's catalog questions cost the same on a small and a ten times larger archive.

The watch lists only what can still change (tests/test_watch.py); this is the other half: every
statement a tick sends to the catalog must be answered from an index over the rows that matter
(the live hours, the unscanned recordings, the newest scanned one), not by reading the whole
recordings table, or the tick grows with the archive (benchmarks/watch_scale.py measures it at a
million files).

The tick's real statements are recorded as they are sent, then each is run again and the work the
database did for it is measured by the database itself:
- SQLite: the virtual-machine instructions it executed (its progress handler, called each step);
- PostgreSQL: the rows each plan node over `recordings` produced or filtered out
  (EXPLAIN ANALYZE), after ANALYZE so the planner knows the table's size, as autovacuum would.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera
from gapfill.catalog.queries.watch import add_recordings_in_bulk
from gapfill.config import Settings
from gapfill.jobs.settle import StabilityTracker
from gapfill.jobs.watch import WatchState, watch_once

OLD = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # the archive: days long past, all scanned
SEGMENT = dt.timedelta(seconds=10)


def add_archive(catalog: Catalog, camera_id: int, first: int, count: int) -> None:
    """`count` scanned 10-second recordings of the camera, numbered from `first`."""
    scanned = dt.datetime.now(dt.UTC)
    rows = []
    for n in range(first, first + count):
        start = OLD + n * SEGMENT
        rows.append(
            {
                "camera_id": camera_id,
                "path": f"/archive/{start:%Y-%m-%d/%H}/press-01/{start:%M.%S}.mp4",
                "start_time": start,
                "end_time": start + SEGMENT,
                "duration_s": SEGMENT.total_seconds(),
                "frame_count": 50,
                "fps": 5.0,
                "size_bytes": 1000,
                "mtime_ns": int(start.timestamp() * 1e9),
                "sha256": "0" * 64,
                "status": "ok",
                "ingested_at": scanned,
                "scanned_at": scanned,
            }
        )
    with catalog.session() as session:
        add_recordings_in_bulk(session, rows)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE recordings"))


@contextmanager
def statements_sent(catalog: Catalog) -> Iterator[list[tuple[str, Any]]]:
    """(SQL, parameters) of every SELECT sent to the catalog inside the block."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(catalog.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(catalog.engine, "before_cursor_execute", record)


def work_of(catalog: Catalog, statement: str, parameters: Any) -> int:
    """What the database does to answer `statement` (see the module docstring)."""
    with catalog.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0  # go on

            raw = connection.connection.dbapi_connection
            assert raw is not None
            raw.set_progress_handler(count, 1)
            try:
                connection.exec_driver_sql(statement, parameters).fetchall()
            finally:
                raw.set_progress_handler(None, 1)
            return steps[0]
        plan = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return rows_touched(plan[0]["Plan"])


def rows_touched(node: dict[str, Any]) -> int:
    """Rows the nodes over `recordings` (and the index scans under them) produced or removed."""
    own = 0
    if node.get("Relation Name") == "recordings" or "Index Name" in node:
        loops = node.get("Actual Loops", 1)
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        own += node.get("Rows Removed by Index Recheck", 0)
    return own + sum(rows_touched(child) for child in node.get("Plans", []))


def tick_work(catalog: Catalog, settings: Settings) -> dict[str, int]:
    """The work of each statement of one watch tick, by statement."""
    with statements_sent(catalog) as sent:
        watch_once(catalog, settings, WatchState(StabilityTracker(0, 3600), use_events=False))
    assert sent, "the tick asked the catalog nothing"
    return {statement: work_of(catalog, statement, parameters) for statement, parameters in sent}


def test_a_tick_s_catalog_work_does_not_grow_with_the_archive(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    root.mkdir()  # nothing on disk: what is left of a tick is its questions to the catalog
    settings = Settings(
        data_dir=tmp_path / "data", database_url=catalog.url, recordings_dirs=[root]
    )
    with catalog.session() as session:
        camera = Camera(name="press-01", nominal_fps=5.0)
        session.add(camera)
        session.flush()
        camera_id = camera.id
    add_archive(catalog, camera_id, 0, 2_000)
    small = tick_work(catalog, settings)
    add_archive(catalog, camera_id, 2_000, 18_000)
    large = tick_work(catalog, settings)
    assert small.keys() == large.keys()
    grown = {
        statement.split("FROM")[0][:80] + " ... " + statement.split("WHERE")[-1][:120]: (
            small[statement],
            large[statement],
        )
        for statement in small
        if large[statement] > 1.5 * small[statement] + 50
    }
    assert grown == {}, "statements whose work grew with the archive (2,000 -> 20,000 rows)"
