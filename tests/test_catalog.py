"""The catalog schema on SQLite and PostgreSQL: migrations match the models, integrity rules hold,
times stay UTC, the provenance chain detects edits and deletions."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, select, update
from sqlalchemy.exc import IntegrityError

from gapfill.catalog.db import Catalog, head_revision, upgrade
from gapfill.catalog.models import (
    Base,
    Camera,
    Defect,
    ProvenanceEvent,
    Recording,
    RepairJob,
)
from gapfill.provenance.chain import append_event, walk_chain

T0 = dt.datetime(2026, 1, 5, 6, 59, tzinfo=dt.UTC)


def test_migrations_match_models(catalog: Catalog) -> None:
    with catalog.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(catalog_url: str) -> None:
    assert upgrade(catalog_url) == (None, head_revision())
    assert upgrade(catalog_url) == (head_revision(), head_revision())
    with Catalog(catalog_url) as catalog:
        tables = set(inspect(catalog.engine).get_table_names())
    assert {
        "cameras",
        "recordings",
        "defects",
        "repair_jobs",
        "synthetic_clips",
        "synthetic_spans",
        "models",
        "provenance_events",
        "users",
        "api_tokens",
    } <= tables


def _camera_and_recording(session) -> tuple[Camera, Recording]:
    camera = Camera(name="press-01", nominal_fps=10.0)
    session.add(camera)
    session.flush()
    recording = Recording(
        camera_id=camera.id,
        path="/r/a.mp4",
        start_time=T0,
        end_time=T0 + dt.timedelta(seconds=10),
        size_bytes=1,
        mtime_ns=1,
        sha256="0" * 64,
    )
    session.add(recording)
    session.flush()
    return camera, recording


def test_times_round_trip_as_utc(catalog: Catalog) -> None:
    local = dt.datetime(2026, 1, 5, 8, 59, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with catalog.session() as session:
        _camera, recording = _camera_and_recording(session)
        recording.start_time = local
        recording_id = recording.id
    with catalog.session() as session:
        stored = session.get(Recording, recording_id).start_time
    assert stored == T0 and stored.utcoffset() == dt.timedelta(0)


def test_naive_datetimes_are_refused(catalog: Catalog) -> None:
    with pytest.raises(Exception, match="naive datetime"), catalog.session() as session:
        _camera, recording = _camera_and_recording(session)
        recording.end_time = dt.datetime(2026, 1, 5, 7, 0)
        session.flush()


def test_unknown_states_are_refused(catalog: Catalog) -> None:
    with pytest.raises(IntegrityError), catalog.session() as session:
        camera, recording = _camera_and_recording(session)
        session.add(
            Defect(
                camera_id=camera.id,
                recording_id=recording.id,
                kind="purple",
                start_time=T0,
                end_time=T0 + dt.timedelta(seconds=1),
                detector="x",
            )
        )
        session.flush()


def test_one_live_job_per_defect(catalog: Catalog) -> None:
    with catalog.session() as session:
        camera, recording = _camera_and_recording(session)
        defect = Defect(
            camera_id=camera.id,
            recording_id=recording.id,
            kind="black",
            start_time=T0,
            end_time=T0 + dt.timedelta(seconds=1),
            detector="x",
        )
        session.add(defect)
        session.flush()
        session.add(RepairJob(defect_id=defect.id, state="done"))
        session.add(RepairJob(defect_id=defect.id, state="queued"))
        session.flush()  # a finished job and a live one may coexist
        defect_id = defect.id
    with pytest.raises(IntegrityError), catalog.session() as session:
        session.add(RepairJob(defect_id=defect_id, state="running"))
        session.flush()


def test_rescan_cannot_duplicate_a_defect(catalog: Catalog) -> None:
    with pytest.raises(IntegrityError), catalog.session() as session:
        camera, recording = _camera_and_recording(session)
        for _ in range(2):
            session.add(
                Defect(
                    camera_id=camera.id,
                    recording_id=recording.id,
                    kind="black",
                    start_time=T0,
                    end_time=T0 + dt.timedelta(seconds=1),
                    detector="x",
                )
            )
        session.flush()


def _chain(catalog: Catalog, n: int) -> None:
    with catalog.session() as session:
        for i in range(n):
            append_event(session, "ingest", "system:test", "recording", i, {"sha256": f"{i:064d}"})


def test_chain_verifies_clean(catalog: Catalog) -> None:
    _chain(catalog, 5)
    with catalog.session() as session:
        assert list(walk_chain(session, batch=2)) == []


def test_chain_detects_an_edited_row(catalog: Catalog) -> None:
    _chain(catalog, 5)
    with catalog.session() as session:
        session.execute(
            update(ProvenanceEvent)
            .where(ProvenanceEvent.seq == 3)
            .values(payload='{"sha256":"forged"}')
        )
    with catalog.session() as session:
        problems = list(walk_chain(session))
    assert [(p.seq, p.problem.split(":")[0]) for p in problems] == [(3, "row edited")]


def test_chain_detects_a_deleted_row(catalog: Catalog) -> None:
    _chain(catalog, 5)
    with catalog.session() as session:
        session.execute(delete(ProvenanceEvent).where(ProvenanceEvent.seq == 2))
    with catalog.session() as session:
        problems = list(walk_chain(session))
    assert any("deleted" in p.problem for p in problems)
    assert any(p.seq == 3 and "chain broken" in p.problem for p in problems)


def test_chain_cannot_fork(catalog: Catalog) -> None:
    _chain(catalog, 2)
    with pytest.raises(IntegrityError), catalog.session() as session:
        last = session.scalar(select(ProvenanceEvent).where(ProvenanceEvent.seq == 2))
        session.add(
            ProvenanceEvent(
                seq=99,
                created_at=T0,
                action="x",
                actor="y",
                subject_type="z",
                subject_id="1",
                payload="{}",
                prev_hash=last.prev_hash,
                hash="f" * 64,
            )
        )
        session.flush()
