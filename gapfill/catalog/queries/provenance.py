"""The provenance chain's statements: its lock, its last link, events by action and subject.

What the events mean (their hashes, their actions' names) is gapfill.provenance's; the callers
name the action and subject type they want.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gapfill.catalog.db import sqlite_write_lock
from gapfill.catalog.models import ProvenanceEvent

# Arbitrary constant naming gapfill's provenance lock among a site's advisory locks.
_ADVISORY_LOCK_KEY = 0x6761_7066_696C  # "gapfil"


def lock_chain(session: Session) -> None:
    """Serialise the writers of the chain (and of what they check before appending, such as a
    model row) until the caller's transaction ends: an advisory lock on PostgreSQL; on SQLite,
    the database write lock taken up front, since Python's sqlite3 would otherwise begin the
    transaction only at its first write and let two processes read the same last event."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    sqlite_write_lock(session)


def last_link(session: Session) -> tuple[int, str] | None:
    """(seq, hash) of the newest event; None while the chain is empty. Read under lock_chain."""
    last = session.execute(
        select(ProvenanceEvent.seq, ProvenanceEvent.hash)
        .order_by(ProvenanceEvent.seq.desc())
        .limit(1)
    ).first()
    return (last[0], last[1]) if last else None


def last_seq(session: Session) -> int:
    """The newest event's seq (0 while the chain is empty)."""
    return (
        session.scalar(select(ProvenanceEvent.seq).order_by(ProvenanceEvent.seq.desc()).limit(1))
        or 0
    )


def chain_length(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ProvenanceEvent)) or 0


def events_after(
    session: Session,
    after: int,
    limit: int,
    *,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> list[ProvenanceEvent]:
    """Up to `limit` events with seq above `after`, in chain order (keyset paging: stable while
    events are appended, cheap on millions of rows); only the given action and subject."""
    query = select(ProvenanceEvent).where(ProvenanceEvent.seq > after)
    if action is not None:
        query = query.where(ProvenanceEvent.action == action)
    if subject_type is not None:
        query = query.where(ProvenanceEvent.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(ProvenanceEvent.subject_id == subject_id)
    return list(session.scalars(query.order_by(ProvenanceEvent.seq).limit(limit)).all())


def subject_events(
    session: Session,
    action: str,
    subject_type: str,
    subject_ids: Iterable[str] | None = None,
) -> list[tuple[int, str, dt.datetime, str]]:
    """(seq, subject id, created at, payload) of every `action` event on a subject of
    `subject_type` (only the given subjects, when given), in chain order."""
    query = select(
        ProvenanceEvent.seq,
        ProvenanceEvent.subject_id,
        ProvenanceEvent.created_at,
        ProvenanceEvent.payload,
    ).where(ProvenanceEvent.action == action, ProvenanceEvent.subject_type == subject_type)
    if subject_ids is not None:
        query = query.where(ProvenanceEvent.subject_id.in_(set(subject_ids)))
    rows = session.execute(query.order_by(ProvenanceEvent.seq))
    return [(seq, subject, created, payload) for seq, subject, created, payload in rows]


def first_payload(
    session: Session, action: str, subject_id: str, subject_type: str | None = None
) -> str | None:
    """The payload of the first `action` event on `subject_id` (of `subject_type`, when given)."""
    query = select(ProvenanceEvent.payload).where(
        ProvenanceEvent.action == action, ProvenanceEvent.subject_id == subject_id
    )
    if subject_type is not None:
        query = query.where(ProvenanceEvent.subject_type == subject_type)
    return session.scalar(query.order_by(ProvenanceEvent.seq).limit(1))


def has_event(session: Session, action: str, subject_type: str, subject_id: str) -> bool:
    return (
        session.scalar(
            select(ProvenanceEvent.seq).where(
                ProvenanceEvent.action == action,
                ProvenanceEvent.subject_type == subject_type,
                ProvenanceEvent.subject_id == subject_id,
            )
        )
        is not None
    )
