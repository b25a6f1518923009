"""The review queue pages through thousands of clips: the API and the page return one bounded
page at a time, their cursors walk the whole list exactly once, and on SQLite the queue's
queries are index walks (no table scan, no sort of every pending clip).
benchmarks/review_page.py measures the same queries with 10,000 clips."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session
from synthetic_catalog import camera_names, fill_clips

from gapfill.api.app import create_app
from gapfill.api.browse import clip_rows
from gapfill.api.tokens import create_user
from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, SyntheticClip
from gapfill.config import Settings

CLIPS = 120  # 90 pending, over 4 cameras


@pytest.fixture
def filled(catalog: Catalog, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    fill_clips(catalog, CLIPS)
    with catalog.session() as session:
        _user, token = create_user(session, "viewer-1", "viewer", "system:test")
    settings = Settings(
        data_dir=tmp_path / "data", database_url=catalog.url, secret_key="test-session-secret"
    )
    app = create_app(settings, catalog=catalog)
    return TestClient(app, base_url="https://testserver"), {"Authorization": f"Bearer {token}"}


def _pending_in_order(catalog: Catalog, camera_id: int | None = None) -> list[int]:
    query = select(SyntheticClip.id).where(SyntheticClip.review_state == "pending")
    if camera_id is not None:
        query = query.where(SyntheticClip.camera_id == camera_id)
    with catalog.session() as session:
        return list(session.scalars(query.order_by(SyntheticClip.start_time, SyntheticClip.id)))


def test_api_pages_with_a_cursor(
    catalog: Catalog, filled: tuple[TestClient, dict[str, str]]
) -> None:
    http, auth = filled
    expected = _pending_in_order(catalog)
    assert len(expected) == 90
    seen: list[int] = []
    params: dict[str, object] = {"review_state": "pending", "limit": 25}
    pages = 0
    while True:
        page = http.get("/api/clips", headers=auth, params=params).json()
        pages += 1
        assert page["total"] == 90 and len(page["items"]) <= 25
        seen += [item["id"] for item in page["items"]]
        if page["next_after"] is None:
            break
        params["after"] = page["next_after"]
    assert pages == 4 and seen == expected  # every pending clip once, in list order
    # Offsets still work and agree with the cursor.
    second = http.get(
        "/api/clips", headers=auth, params={"review_state": "pending", "limit": 25, "offset": 25}
    ).json()
    assert [item["id"] for item in second["items"]] == expected[25:50]

    assert http.get("/api/clips", headers=auth, params={"limit": 1001}).status_code == 422
    both = http.get("/api/clips", headers=auth, params={"after": "1_1", "offset": 5})
    assert both.status_code == 400
    forged = http.get("/api/clips", headers=auth, params={"after": "9" * 19 + "_1"})
    assert forged.status_code == 400 and "not a cursor" in forged.json()["detail"]


def test_queue_page_pages_and_filters(
    catalog: Catalog, filled: tuple[TestClient, dict[str, str]]
) -> None:
    http, auth = filled
    expected = _pending_in_order(catalog)
    first = http.get("/queue", headers=auth)
    assert first.status_code == 200 and "90 reconstructions waiting" in first.text
    shown = [int(i) for i in re.findall(r'href="/clips/(\d+)"', first.text)]
    assert shown == expected[:50]  # one page, not the whole queue
    next_url = re.search(r'id="queue-next" href="([^"]+)"', first.text)[1]  # type: ignore[index]
    second = http.get(next_url.replace("&amp;", "&"), headers=auth)
    assert [int(i) for i in re.findall(r'href="/clips/(\d+)"', second.text)] == expected[50:]
    assert 'id="queue-next"' not in second.text and 'id="queue-first"' in second.text

    camera = camera_names(4)[1]
    with catalog.session() as session:
        camera_id = session.scalar(select(Camera.id).where(Camera.name == camera))
    filtered = http.get("/queue", headers=auth, params={"camera": camera})
    ids = [int(i) for i in re.findall(r'href="/clips/(\d+)"', filtered.text)]
    assert ids == _pending_in_order(catalog, camera_id) and f"on {camera}" in filtered.text
    assert http.get("/queue", headers=auth, params={"after": "x"}).status_code == 400


@pytest.fixture
def statements(catalog: Catalog) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement the catalog's engine runs while the test is inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        seen.append((sql, params))

    engine: Engine = catalog.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _plan(session: Session, sql: str, params: Any) -> list[str]:
    """The detail column of SQLite's EXPLAIN QUERY PLAN for one statement."""
    return [
        row[3] for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
    ]


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_queue_queries_use_indexes(catalog: Catalog, statements: list[tuple[str, Any]]) -> None:
    fill_clips(catalog, CLIPS)
    with catalog.session() as session:
        deep = clip_rows(session, review_state="pending", limit=50).next_after
    for label, camera, after in (
        ("first page", None, None),
        ("camera", camera_names(4)[2], None),
        ("next page", None, deep),
    ):
        statements.clear()
        with catalog.session() as session:
            clip_rows(session, camera, "pending", limit=50, after=after)
            plans = [(sql, _plan(session, sql, params)) for sql, params in list(statements)]
        for sql, plan in plans:
            for step in plan:
                # A SCAN of a table (not of an index) reads every row; a temp b-tree sorts them.
                assert not re.fullmatch(r"SCAN \w+", step), (label, sql, plan)
                assert "TEMP B-TREE" not in step, (label, sql, plan)
        used = " | ".join(step for _sql, plan in plans for step in plan)
        assert "ix_synthetic_spans_clip_frame" in used, (label, used)
        index = "review_camera_start" if camera else "review_start"
        assert f"ix_synthetic_clips_{index} " in used, (label, used)
