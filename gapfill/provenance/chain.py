"""The append-only provenance chain in the catalog.

Each event's hash covers its own content and the previous event's hash:

    hash = SHA-256( prev_hash + "\n" + canonical_json({seq, created_at, action, actor,
                                                        subject_type, subject_id, payload}) )

so editing a row changes its hash (detected when the chain is walked), deleting a row leaves a
successor whose prev_hash points at nothing, and re-linking requires rewriting every later row.
The first event links to GENESIS. Appends are serialised: a PostgreSQL advisory lock on that
database; SQLite has one writer at a time by design. The unique prev_hash column is the backstop:
a racing second append with the same predecessor is refused by the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gapfill.catalog.models import ProvenanceEvent
from gapfill.catalog.queries import provenance as chain_q

# The chain's lock lives with its statement in the catalog; writers elsewhere import it from here.
lock_chain = chain_q.lock_chain

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """One byte-exact JSON text for a value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )


def event_hash(
    prev_hash: str,
    seq: int,
    created_at: dt.datetime,
    action: str,
    actor: str,
    subject_type: str,
    subject_id: str,
    payload: str,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "created_at": created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "action": action,
            "actor": actor,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "payload": payload,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append_event(
    session: Session,
    action: str,
    actor: str,
    subject_type: str,
    subject_id: str | int,
    payload: dict[str, Any],
) -> ProvenanceEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the work it
    records, so the chain never claims something that did not happen)."""
    lock_chain(session)
    last = chain_q.last_link(session)
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    # Microsecond precision is what both databases keep; hash exactly what is stored.
    created_at = dt.datetime.now(dt.UTC)
    payload_text = canonical_json(payload)
    event = ProvenanceEvent(
        seq=seq,
        created_at=created_at,
        action=action,
        actor=actor,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload_text,
        prev_hash=prev_hash,
        hash=event_hash(
            prev_hash, seq, created_at, action, actor, subject_type, str(subject_id), payload_text
        ),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def walk_chain(session: Session, batch: int = 5000) -> Iterator[ChainProblem]:
    """Every break in the chain: edited rows, deleted rows, broken links. Streams in batches so a
    chain of millions of events is checked in constant memory."""
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    while True:
        rows = chain_q.events_after(session, last_seq, batch)
        if not rows:
            return
        for event in rows:
            if event.seq != expected_seq:
                yield ChainProblem(expected_seq, f"events {expected_seq}..{event.seq - 1} deleted")
            if event.prev_hash != expected_prev:
                yield ChainProblem(
                    event.seq, "chain broken: prev_hash does not match the previous event's hash"
                )
            recomputed = event_hash(
                event.prev_hash,
                event.seq,
                event.created_at,
                event.action,
                event.actor,
                event.subject_type,
                event.subject_id,
                event.payload,
            )
            if recomputed != event.hash:
                yield ChainProblem(
                    event.seq,
                    f"row edited: {event.action} {event.subject_type} "
                    f"{event.subject_id} no longer matches its hash",
                )
            expected_prev = event.hash
            expected_seq = event.seq + 1
            last_seq = event.seq
        session.expunge_all()


def chain_length(session: Session) -> int:
    return chain_q.chain_length(session)
