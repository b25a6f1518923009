"""Review queue responsiveness: the queue page (HTML) and the clip list API with 10,000 synthetic
clips in the catalog, against the same measurements with 100 clips in the same run.

For each catalog size a fresh catalog is filled through the ORM models (tests/synthetic_catalog.py:
clips over 4 cameras, three in four pending, one or two synthetic spans each), and then timed:

- through the real app (FastAPI TestClient, bearer token): the /queue page and GET /api/clips
  (pending, 50 a page) for the first page, a deep page (the last full page of the queue, reached
  with the keyset cursor; the API also by offset, for comparison) and filtered by one camera;
- the SQL alone: the statements the queue runs (count, page, spans), re-executed on a connection,
  and their plans (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL after ANALYZE), checked
  for scans of the clip and span tables and for sorts of every row.

Each figure is the median of --repeat runs after two warm-up runs. Shared machines are noisy, so
the result to read is the ratio of the large catalog to the small one: near 1 means the page
costs the same however many clips there are.

    .venv/bin/python benchmarks/review_page.py [--clips 10000] [--small 100] [--repeat 15]
        [--postgres] [--out benchmarks/results/review_page.txt]

--postgres adds the same measurements on a throwaway PostgreSQL server (tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # reuse the tests' catalog filler and PostgreSQL server

from synthetic_catalog import camera_names, fill_clips  # noqa: E402

PAGE = 50  # the queue page's size (gapfill.api.pages.QUEUE_PAGE), asserted below


@dataclass
class Bench:
    """One filled catalog and the runs to time on it, by measurement name."""

    runs: dict[str, Callable[[], object]] = field(default_factory=dict)
    # Plans of the queue's statements, by view.
    plans: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)


def interleaved_ms(
    small: Callable[[], object], large: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median milliseconds of each, timed in alternation after two warm-up runs, so that a
    burst of load on a shared machine hits both sides of the ratio alike."""
    for _ in range(2):
        small()
        large()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for run, into in ((small, samples[0]), (large, samples[1])):
            began = time.perf_counter()
            run()
            into.append(time.perf_counter() - began)
    return statistics.median(samples[0]) * 1000, statistics.median(samples[1]) * 1000


def captured_statements(catalog: Any, work: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (with parameters) that `work` runs on the catalog."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        seen.append((sql, params))

    event.listen(catalog.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(catalog.engine, "before_cursor_execute", record)
    return seen


def query_plan(connection: Any, sql: str, params: Any) -> list[str]:
    """The plan steps: SQLite's EXPLAIN QUERY PLAN details, or PostgreSQL's EXPLAIN lines."""
    if connection.dialect.name == "sqlite":
        explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[3] for row in explained]
    explained = connection.exec_driver_sql(f"EXPLAIN (COSTS OFF) {sql}", params)
    return [re.sub(r"^->\s*", "", row[0].strip()) for row in explained]


def plan_problems(plan: list[str]) -> list[str]:
    """SQLite steps that read a whole table or sort every row (an index SCAN reads only an
    index). PostgreSQL's plans are printed for reading, not judged: with three in four clips
    pending its planner rightly counts them with a sequential scan."""
    return [s for s in plan if re.fullmatch(r"SCAN \w+", s) or "TEMP B-TREE" in s]


def _statement_kind(sql: str) -> str:
    if "count(" in sql:
        return "count"
    if "FROM synthetic_spans" in sql:
        return "spans"
    if "FROM cameras" in sql and "synthetic_clips" not in sql:
        return "camera"
    return "page"


@contextmanager
def bench(url: str, clips: int, scratch: Path) -> Iterator[Bench]:
    """Fill a fresh catalog at `url` with `clips` clips and set up what is timed on it."""
    from fastapi.testclient import TestClient

    from gapfill.api.app import create_app
    from gapfill.api.browse import clip_rows
    from gapfill.api.pages import QUEUE_PAGE
    from gapfill.api.tokens import create_user
    from gapfill.catalog.db import Catalog, upgrade
    from gapfill.config import Settings

    assert QUEUE_PAGE == PAGE, "the benchmark's page size must match the page's"
    upgrade(url)
    catalog = Catalog(url)
    connection = None
    try:
        fill_clips(catalog, clips)
        with catalog.session() as session:
            _user, token = create_user(session, "bench-admin", "admin", "system:bench")
        if catalog.engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load; without statistics the planner assumes
            # tiny tables and scans them. (SQLite picks the indexes without ANALYZE.)
            with catalog.engine.connect() as raw:
                raw.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        settings = Settings(
            data_dir=scratch / "data", database_url=url, secret_key="bench-session-secret"
        )
        http = TestClient(create_app(settings, catalog=catalog), base_url="https://testserver")
        auth = {"Authorization": f"Bearer {token}"}

        # The deep page: the last full page of the pending queue, as "Next page" reaches it.
        with catalog.session() as session:
            total = clip_rows(session, review_state="pending", limit=1).total
            deep_offset = max(0, total - PAGE)
            deep_cursor = (
                clip_rows(session, review_state="pending", limit=deep_offset).next_after
                if deep_offset
                else None
            )
        deep = {"after": deep_cursor} if deep_cursor else {}
        camera = camera_names(4)[1]
        api = {"review_state": "pending", "limit": PAGE}
        result = Bench()
        for name, path, params in (
            ("page: first", "/queue", {}),
            ("page: deep (cursor)", "/queue", deep),
            ("page: camera", "/queue", {"camera": camera}),
            ("api: first", "/api/clips", api),
            ("api: deep (cursor)", "/api/clips", {**api, **deep}),
            ("api: deep (offset)", "/api/clips", {**api, "offset": deep_offset}),
            ("api: camera", "/api/clips", {**api, "camera": camera}),
        ):

            def get(path: str = path, params: dict[str, Any] = params) -> None:
                response = http.get(path, headers=auth, params=params)
                assert response.status_code == 200, (path, params, response.text[:300])

            get()
            result.runs[name] = get

        # The SQL alone: each statement clip_rows runs for a view, re-executed on a connection.
        connection = catalog.engine.connect()
        for view, camera_name, after in (
            ("first", None, None),
            ("deep (cursor)", None, deep_cursor),
            ("camera", camera, None),
        ):

            def rows(camera_name: str | None = camera_name, after: str | None = after) -> None:
                with catalog.session() as session:
                    clip_rows(session, camera_name, "pending", limit=PAGE, after=after)

            statements = captured_statements(catalog, rows)
            for sql, params in statements:
                kind = _statement_kind(sql)
                if kind == "camera":
                    continue  # a unique-key lookup of one camera row

                def replay(sql: str = sql, params: Any = params) -> None:
                    connection.exec_driver_sql(sql, params).fetchall()

                result.runs[f"sql {view}: {kind}"] = replay
            result.plans[f"sql {view}"] = [
                (sql, query_plan(connection, sql, params)) for sql, params in statements
            ]
        yield result
    finally:
        if connection is not None:
            connection.close()
        catalog.dispose()


def report(backend: str, small: int, large: int, a: Bench, b: Bench, repeat: int) -> list[str]:
    lines = [
        f"{backend}: {small} vs {large} clips (three in four pending), {PAGE} a page; "
        f"median ms of {repeat} alternating runs",
        f"{'measurement':<26} {small:>9} {large:>9} {'ratio':>6}",
    ]
    for name in a.runs:
        small_ms, large_ms = interleaved_ms(a.runs[name], b.runs[name], repeat)
        lines.append(f"{name:<26} {small_ms:>9.2f} {large_ms:>9.2f} {large_ms / small_ms:>6.2f}")
    if b.plans:
        lines.append("")
        lines.append(f"query plans with {large} clips (statement: plan steps)")
        problems = 0
        for name, statements in b.plans.items():
            for sql, plan in statements:
                what = re.sub(r"\s+", " ", sql)
                what = what[:60] + (" ..." if len(what) > 60 else "")
                bad = plan_problems(plan) if backend == "sqlite" else []
                problems += len(bad)
                lines.append(f"  {name}: {what}")
                lines.append(f"      {' | '.join(plan)}{'   <-- FULL SCAN/SORT' if bad else ''}")
        if backend == "sqlite":
            lines.append(
                "  every statement uses an index"
                if not problems
                else f"  {problems} steps scan a table or sort every row"
            )
    return lines


def compare(urls: tuple[str, str], sizes: tuple[int, int], repeat: int, scratch: Path) -> list[str]:
    backend = "sqlite" if urls[0].startswith("sqlite") else "postgresql"
    (scratch / backend).mkdir()
    with (
        bench(urls[0], sizes[0], scratch / backend) as small,
        bench(urls[1], sizes[1], scratch / backend) as large,
    ):
        return report(backend, sizes[0], sizes[1], small, large, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=10_000, help="the large catalog (10000)")
    parser.add_argument("--small", type=int, default=100, help="the reference catalog (100)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per figure (15)")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "review_page.txt",
        help="where the table is saved as well as printed",
    )
    args = parser.parse_args()

    # Line 1 of every results file is the command that made it (tests/test_benchmark_results).
    command = ["# .venv/bin/python benchmarks/review_page.py", *map(shlex.quote, sys.argv[1:])]
    lines = [" ".join(command), f"cpu cores: {os.cpu_count()}", ""]
    sizes = (args.small, args.clips)
    with tempfile.TemporaryDirectory(prefix="review-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        urls = tuple(f"sqlite:///{scratch / f'catalog-{n}.sqlite3'}" for n in sizes)
        lines += compare(urls, sizes, args.repeat, scratch)  # type: ignore[arg-type]
        if args.postgres:
            from pgserver import PostgresServer, find_bindir

            bindir = find_bindir()
            if bindir is None:
                sys.exit("PostgreSQL server programs not found (Debian package postgresql-15)")
            server = PostgresServer(bindir).start()
            try:
                urls = tuple(server.create_database(f"review_{n}_{os.getpid()}") for n in sizes)
                lines.append("")
                lines += compare(urls, sizes, args.repeat, scratch)  # type: ignore[arg-type]
            finally:
                server.stop()

    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
