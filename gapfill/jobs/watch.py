"""The daemon's watch task: ingest the segments that are complete, scan them, queue their defects.

A recorder writes a segment in place for as long as the segment lasts. Such a file must not be
catalogued (its hash and duration would be of a fragment), so a file is ingested only once it has
settled:
- its size and mtime are the same as at the previous look (a look is one watch tick);
- its mtime is at least `settle_seconds` old;
- an MP4/MOV has its `moov` index (a recorder writes it last, unless it writes "faststart" files,
  whose index comes first and whose size settles last).
A file that never gets an index (the recorder died) is ingested anyway once it has been quiet for
`abandon_seconds`: ingest then catalogues it as unreadable or damaged, and scan reports why.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries import recordings as recordings_q
from gapfill.config import Settings
from gapfill.jobs.queue import Queued

log = logging.getLogger("gapfill.jobs.watch")

MP4_SUFFIXES = {".mp4", ".mov", ".m4v"}


def has_moov(path: Path) -> bool:
    """Whether the top level of an ISO-BMFF file holds a complete `moov` box. Reads only box
    headers; a box running past the end of the file (still being written) does not count."""
    try:
        with path.open("rb") as handle:
            size_on_disk = path.stat().st_size
            position = 0
            while position + 8 <= size_on_disk:
                handle.seek(position)
                header = handle.read(16)
                if len(header) < 8:
                    return False
                size, kind = struct.unpack(">I4s", header[:8])
                if size == 1:  # 64-bit size follows
                    if len(header) < 16:
                        return False
                    size = struct.unpack(">Q", header[8:16])[0]
                elif size == 0:  # runs to the end of the file: the last box, open-ended
                    return False
                if size < 8:
                    return False  # not a box: garbage
                if kind == b"moov":
                    return position + size <= size_on_disk
                position += size
    except OSError:
        return False
    return False


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this (size, mtime) was first seen


@dataclass
class StabilityTracker:
    """Remembers what each file looked like at the previous look."""

    settle_seconds: float = 5.0
    abandon_seconds: float = 600.0
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _done: dict[str, tuple[int, int]] = field(default_factory=dict)

    def settled(self, path: Path, now: float | None = None, wall: float | None = None) -> bool:
        """True when `path` is complete enough to ingest (see the module docstring)."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        try:
            info = path.stat()
        except OSError:
            self._seen.pop(str(path), None)
            return False
        key = str(path)
        current = (info.st_size, info.st_mtime_ns)
        previous = self._seen.get(key)
        if previous is None or (previous.size, previous.mtime_ns) != current:
            self._seen[key] = _Seen(*current, since=now)
            return False  # first look, or it changed since the last one: look again next tick
        if wall - info.st_mtime < self.settle_seconds:
            return False
        if path.suffix.lower() in MP4_SUFFIXES and not has_moov(path):
            return now - previous.since >= self.abandon_seconds
        return True

    def already_ingested(self, path: Path) -> bool:
        """Cheap skip of a file ingested earlier by this process, while it stays unchanged."""
        try:
            info = path.stat()
        except OSError:
            return False
        return self._done.get(str(path)) == (info.st_size, info.st_mtime_ns)

    def mark_ingested(self, path: Path) -> None:
        try:
            info = path.stat()
        except OSError:
            return
        self._done[str(path)] = (info.st_size, info.st_mtime_ns)
        self._seen.pop(str(path), None)


@dataclass
class WatchReport:
    ingested: int = 0
    waiting: int = 0  # files not settled yet
    problems: int = 0
    scanned: int = 0
    queued: int = 0
    newest_on_disk_ns: int | None = None
    newest_scanned_ns: int | None = None

    @property
    def scan_lag_seconds(self) -> float:
        """How far the scanned catalog trails the newest segment on disk (0 when caught up)."""
        if self.newest_on_disk_ns is None:
            return 0.0
        scanned = self.newest_scanned_ns or 0
        return max(0.0, (self.newest_on_disk_ns - scanned) / 1e9)


def ingest_settled(
    catalog: Catalog,
    root: Path,
    layout: str,
    tracker: StabilityTracker,
    report: WatchReport,
    stop: threading.Event | None = None,
) -> None:
    """Ingest the settled files under `root`, each in its own transaction, as `gapfill ingest`
    does. A bad file is ingest's business (it records it as unreadable); a failure of one file
    is logged and does not stop the others."""
    # ingest() walks a whole tree; the daemon needs its per-file step behind the stability check.
    from gapfill.ingest import IngestReport, _ingest_file, _place, walk_files

    root = root.expanduser().absolute()
    if not root.is_dir():
        log.warning("recordings directory missing", extra={"path": str(root)})
        report.problems += 1
        return
    actor = f"system:{socket.gethostname()}"
    files = IngestReport()
    for path in walk_files(root, lambda p, why: files.skipped.append((p, why))):
        if stop is not None and stop.is_set():
            return
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError:
            continue
        report.newest_on_disk_ns = max(report.newest_on_disk_ns or 0, mtime_ns)
        if tracker.already_ingested(path):
            continue
        if not tracker.settled(path):
            report.waiting += 1
            continue
        placement = _place(path, root, layout, None)  # type: ignore[arg-type]
        if placement is None:
            tracker.mark_ingested(path)  # not a segment of this layout; ingest would skip it too
            continue
        skipped_before = len(files.skipped)
        try:
            with catalog.session() as session:
                _ingest_file(session, path, placement, files, actor)
        except Exception:
            log.exception("ingest failed", extra={"path": str(path)})
            report.problems += 1
            continue
        if len(files.skipped) == skipped_before:
            tracker.mark_ingested(path)
        # else ingest saw it change under its hands (or could not read it): look again next tick
    for severity, path_text, reason in files.problems():
        log.warning("ingest: %s", reason, extra={"path": path_text, "severity": severity})
    report.ingested += len(files.added)
    report.problems += len(files.unreadable) + len(files.changed_originals)


def queue_open_defects(catalog: Catalog, min_activity: float = 0.0, tries: int = 3) -> int:
    """Queue every open defect not stiller than `min_activity` (repair_min_activity; the others
    become ignored); returns how many jobs were added."""
    return len(queue_open_retrying(catalog, min_activity, tries).job_ids)


def queue_open_retrying(catalog: Catalog, min_activity: float = 0.0, tries: int = 3) -> Queued:
    """queue.queue_open in a transaction of its own. Another process queueing the same defect at
    the same moment trips the one-live-job index and rolls this transaction back: the next try
    sees its job and skips that defect."""
    from sqlalchemy.exc import IntegrityError

    from gapfill.jobs import queue

    for attempt in range(tries):
        try:
            with catalog.session() as session:
                return queue.queue_open(session, min_activity)
        except IntegrityError:
            if attempt == tries - 1:
                raise
    return Queued([], [])


def ingest_from_frigate(
    catalog: Catalog, root: Path, settings: Settings, report: WatchReport
) -> None:
    """Ingest what Frigate's database lists under `root` (and what it does not), with the gaps
    between its rows (gapfill/frigate_ingest.py). Frigate inserts a row once the segment is
    complete in its place, so a listed file needs no stability wait. A database that cannot be
    read is logged and retried next tick: the daemon keeps running."""
    from gapfill.catalog.frigate_db import read_recordings
    from gapfill.errors import UserError
    from gapfill.frigate_ingest import ingest_frigate

    assert settings.frigate_db is not None  # the settings refuse frigate-db without it
    try:
        rows = read_recordings(settings.frigate_db)
        done = ingest_frigate(catalog, root, rows, settings.detect)
    except UserError as exc:
        log.warning("frigate source unusable", extra={"problem": str(exc)})
        report.problems += 1
        return
    report.ingested += len(done.ingest.added)
    report.problems += len(done.ingest.skipped)
    if rows:  # Frigate's newest segment end stands for the newest file on disk (scan lag)
        newest = max(row.end for row in rows).timestamp()
        report.newest_on_disk_ns = max(report.newest_on_disk_ns or 0, int(newest * 1e9))


def newest_scanned_mtime_ns(catalog: Catalog) -> int | None:
    with catalog.session() as session:
        return recordings_q.newest_scanned_mtime_ns(session)


def watch_once(
    catalog: Catalog,
    settings: Settings,
    tracker: StabilityTracker,
    stop: threading.Event | None = None,
    scan_workers: int = 1,
) -> WatchReport:
    """One tick: ingest settled segments of every recordings dir, scan what is new, queue the
    open defects. Never raises for bad media; a failing step is logged and the tick goes on."""
    from gapfill.detect.scan import scan

    report = WatchReport()
    for root in settings.recordings_dirs:
        if settings.recordings_layout == "frigate-db":
            ingest_from_frigate(catalog, root, settings, report)
        else:
            ingest_settled(catalog, root, settings.recordings_layout, tracker, report, stop)
    if stop is not None and stop.is_set():
        return report
    try:
        scanned = scan(catalog, settings, workers=scan_workers, progress=False)
        report.scanned = scanned.scanned
    except Exception:
        log.exception("scan failed")
        report.problems += 1
    try:
        report.queued = queue_open_defects(catalog, settings.repair_min_activity)
    except Exception:
        log.exception("queueing open defects failed")
    report.newest_scanned_ns = newest_scanned_mtime_ns(catalog)
    if report.ingested or report.scanned or report.queued:
        log.info(
            "watch",
            extra={
                "ingested": report.ingested,
                "waiting": report.waiting,
                "scanned": report.scanned,
                "queued": report.queued,
                "scan_lag_seconds": round(report.scan_lag_seconds, 3),
            },
        )
    return report
