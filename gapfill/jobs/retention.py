"""Retention: delete synthetic clip files older than `retention_days`, and say so in the record.

Rows are never deleted: the synthetic_clips row, its spans and its `repair` event stay as the
history of what was made. Each deletion is announced first by an `expire` provenance event
(hash-chained like every other) naming the file, its sha256 and the rule that removed it; the
file and its sidecar are deleted after that event is committed. A crash in between leaves a clip
announced as expired whose file still exists, and the next run deletes it; the other order could
lose a file silently.

`gapfill verify` (provenance/verify.py) counts a clip with an `expire` event and no file as
expired, not missing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import CLIP_SUBJECT, EXPIRE_ACTION
from gapfill.catalog.models import utcnow
from gapfill.catalog.queries.clips import clips_created_before
from gapfill.catalog.queries.provenance import subject_events
from gapfill.config import Settings
from gapfill.provenance.chain import append_event
from gapfill.provenance.sidecar import sidecar_path

log = logging.getLogger("gapfill.jobs.retention")


@dataclass
class RetentionReport:
    expired: list[str] = field(default_factory=list)  # files deleted by this run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why) left for later


def expired_provenance_ids(session: Session) -> dict[str, int]:
    """provenance id -> seq of its `expire` event, for every clip retention has expired."""
    rows = subject_events(session, EXPIRE_ACTION, CLIP_SUBJECT)
    return {subject: seq for seq, subject, _created_at, _payload in rows}


def expire_outputs(
    catalog: Catalog, settings: Settings, actor: str, now: dt.datetime | None = None
) -> RetentionReport:
    """Expire every clip created more than retention_days ago (nothing when it is 0)."""
    report = RetentionReport()
    if settings.retention_days <= 0:
        return report
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=settings.retention_days)
    with catalog.session() as session:
        already = expired_provenance_ids(session)
        old = clips_created_before(session, cutoff)
    for clip_id, provenance_id, path_text, sha256, size_bytes, created_at in old:
        path = Path(path_text)
        if provenance_id not in already:
            if not path.exists() and not sidecar_path(path).exists():
                # Gone by other hands: that is verify's to report, not retention's to explain.
                continue
            with catalog.session() as session:
                append_event(
                    session,
                    EXPIRE_ACTION,
                    actor,
                    CLIP_SUBJECT,
                    provenance_id,
                    {
                        "clip_id": clip_id,
                        "path": path_text,
                        "sha256": sha256,
                        "size_bytes": size_bytes,
                        "created_at": created_at.isoformat(),
                        "rule": f"retention_days={settings.retention_days}",
                        "reason": "output older than the retention period; file deleted, "
                        "catalog rows kept",
                    },
                )
        try:
            deleted = False
            for target in (path, sidecar_path(path)):
                if target.exists():
                    target.unlink()
                    deleted = True
        except OSError as exc:
            report.failed.append((path_text, exc.strerror or str(exc)))
            log.warning("retention: cannot delete", extra={"path": path_text, "error": str(exc)})
            continue
        if deleted:
            report.expired.append(path_text)
            log.info("retention: clip expired", extra={"clip_id": clip_id, "path": path_text})
    return report
