"""The watch with Frigate's database as the source: each tick reads only the rows Frigate added
since the last one, and keeps its position in the catalog (watch_progress, the root's row)."""

from __future__ import annotations

import logging
from pathlib import Path

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries import watch as watch_q
from gapfill.config import Settings
from gapfill.jobs.watch import WatchReport

log = logging.getLogger("gapfill.jobs.watch")


def ingest_newest_rows(
    catalog: Catalog, root: Path, settings: Settings, report: WatchReport
) -> None:
    """Ingest the rows of Frigate's database past the position stored for `root`, less
    `watch_margin_seconds` (Frigate inserts a row once its segment is moved into place, so rows
    can arrive a little out of start order), with the gaps between them. A row whose recording
    already carries its id is not looked at again. Frigate inserts a row once the segment is
    complete in its place, so a listed file needs no stability wait. A database that cannot be
    read is logged and retried next tick: the daemon keeps running."""
    from gapfill.catalog.frigate_db import read_recordings_after
    from gapfill.errors import UserError
    from gapfill.frigate_ingest import ingest_frigate

    assert settings.frigate_db is not None  # the settings refuse frigate-db without it
    with catalog.session() as session:
        mark = watch_q.progress_row(session, str(root), "")
        start_seen, rowid_seen = mark.frigate_start_seen, mark.frigate_rowid_seen
    after = None
    if start_seen is not None and rowid_seen is not None:
        after = (start_seen - settings.watch_margin_seconds, rowid_seen)
    try:
        read = read_recordings_after(settings.frigate_db, after)
        report.frigate_rows += len(read.rows)
        with catalog.session() as session:
            linked = watch_q.frigate_ids_linked(session, [r.id for r in read.rows])
        rows = [r for r in read.rows if r.id not in linked]
        done = ingest_frigate(catalog, root, rows, settings.detect, walk=False)
    except UserError as exc:
        log.warning("frigate source unusable", extra={"problem": str(exc)})
        report.problems += 1
        return
    report.ingested += len(done.ingest.added)
    report.problems += len(done.ingest.skipped)
    if read.newest_start is not None and read.newest_rowid is not None:
        with catalog.session() as session:
            mark = watch_q.progress_row(session, str(root), "")
            mark.frigate_start_seen = max(read.newest_start, start_seen or read.newest_start)
            mark.frigate_rowid_seen = max(read.newest_rowid, rowid_seen or read.newest_rowid)
        # Frigate's newest segment end stands for the newest file on disk (scan lag).
        newest = max(row.end for row in read.rows).timestamp()
        report.newest_on_disk_ns = max(report.newest_on_disk_ns or 0, int(newest * 1e9))
