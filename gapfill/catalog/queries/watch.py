"""The daemon's watch: what the catalog already holds under a folder, and how far the watch has
looked (watch_progress). gapfill/jobs/watch.py decides; these read and write."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Recording, WatchProgress

# (size_bytes, mtime_ns) of a catalogued file: equal to the file's stat, the file is known.
Known = dict[str, tuple[int, int]]


def catalogued_in_hour(
    session: Session, cameras: Iterable[str], start: dt.datetime, end: dt.datetime, prefix: str
) -> Known:
    """The catalogued files of `cameras` starting in [start, end) whose path starts with
    `prefix` (the partition's folder). Served by the (camera_id, start_time) index: the cost is
    that of one partition, whatever the size of the archive. The path is checked here rather than
    in SQL because a range over paths is ordered by the database's collation, not by bytes."""
    names = list(cameras)
    if not names:
        return {}
    rows = session.execute(
        select(Recording.path, Recording.size_bytes, Recording.mtime_ns)
        .join(Camera)
        .where(Camera.name.in_(names), Recording.start_time >= start, Recording.start_time < end)
    ).all()
    return {path: (size, mtime) for path, size, mtime in rows if path.startswith(prefix)}


def catalogued_under(session: Session, prefix: str) -> Known:
    """Every catalogued file whose path starts with `prefix`: a scan of the recordings table,
    for the flat layout's full walk of a small tree."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        select(Recording.path, Recording.size_bytes, Recording.mtime_ns).where(
            Recording.path.like(escaped + "%", escape="\\")
        )
    ).all()
    return {path: (size, mtime) for path, size, mtime in rows if path.startswith(prefix)}


def progress_row(session: Session, root: str, partition: str) -> WatchProgress:
    """The progress row of (root, partition), created (unsaved until the session commits) when
    there is none yet."""
    row = session.scalar(
        select(WatchProgress).where(
            WatchProgress.root == root, WatchProgress.partition == partition
        )
    )
    if row is None:
        row = WatchProgress(root=root, partition=partition)
        session.add(row)
    return row


def mark_looked(session: Session, root: str, partition: str, when: dt.datetime) -> None:
    """Record that every file of the partition was listed and compared at `when`."""
    progress_row(session, root, partition).looked_at = when


def looked_since(
    session: Session, root: str, partitions: Iterable[str], since: dt.datetime
) -> set[str]:
    """Those of `partitions` of `root` listed in full at or after `since`."""
    names = list(partitions)
    found: set[str] = set()
    for start in range(0, len(names), 500):  # bounded IN lists on both databases
        chunk = names[start : start + 500]
        found.update(
            session.scalars(
                select(WatchProgress.partition).where(
                    WatchProgress.root == root,
                    WatchProgress.partition.in_(chunk),
                    WatchProgress.looked_at >= since,
                )
            )
        )
    return found


def frigate_ids_linked(session: Session, ids: Iterable[str]) -> set[str]:
    """Those of Frigate's row ids that a recording already carries."""
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            session.scalars(select(Recording.frigate_id).where(Recording.frigate_id.in_(chunk)))
        )
    return found


def add_recordings_in_bulk(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert recordings rows as they are, in one executemany: for building large test and
    benchmark catalogs, not for ingest (which hashes, probes and chains each file)."""
    if rows:
        session.execute(insert(Recording), rows)


def partitions_not_looked_since(session: Session, root: str, since: dt.datetime) -> list[str]:
    """Partitions of `root` with a row whose last full listing is older than `since` (or never)."""
    return list(
        session.scalars(
            select(WatchProgress.partition).where(
                WatchProgress.root == root,
                WatchProgress.partition != "",
                or_(WatchProgress.looked_at.is_(None), WatchProgress.looked_at < since),
            )
        )
    )
