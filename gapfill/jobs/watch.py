"""The daemon's watch task: ingest the segments that are complete, scan them, queue their defects.

What a tick looks at (the archive can hold millions of files; a tick must not cost with it):
- Frigate's layout: only the hour folders that can still change (gapfill/jobs/partitions.py),
  and of those only the folders filesystem events named, where the platform has them
  (gapfill/jobs/fs_events.py; without events every live folder is listed). Older hour folders
  are listed again once every `watch_reconcile_hours`, a few per tick within
  `watch_reconcile_seconds` (the reconcile), so a file restored into an old hour is found
  without any tick taking long. It is spread over ticks rather than run as a job of its own so
  that one thread decides about every file: a separate job would race the tick for the same
  files and hold SQLite's one writer for as long as it runs.
- `frigate-db`: Frigate's newest rows (gapfill/jobs/watch_frigate.py), and the same reconcile
  for files Frigate has no row for.
- `flat`: every file under the root each tick; suited to small trees only.
What the catalog holds decides whether a file is new (same path, size and mtime: known; nothing
opened), and how far the watch has looked is in the catalog (watch_progress): a restarted
daemon lists the live hours and resumes, it opens no old file. In memory stay only the files of
the live folders still being written, and the folders to reconcile this round.

A segment is ingested only once it is complete (gapfill/jobs/settle.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries import recordings as recordings_q
from gapfill.catalog.queries import watch as watch_q
from gapfill.config import Settings
from gapfill.jobs.partitions import Partition, live_partitions, partitions_on_disk
from gapfill.jobs.queue import Queued
from gapfill.jobs.settle import StabilityTracker

log = logging.getLogger("gapfill.jobs.watch")


@dataclass
class WatchReport:
    ingested: int = 0
    waiting: int = 0  # files not settled yet
    problems: int = 0
    scanned: int = 0
    queued: int = 0
    listed: int = 0  # folders listed this tick
    reconciled: int = 0  # older hour folders listed by the reconcile this tick
    frigate_rows: int = 0  # rows read from Frigate's database this tick
    newest_on_disk_ns: int | None = None
    newest_scanned_ns: int | None = None

    @property
    def scan_lag_seconds(self) -> float:
        """How far the scanned catalog trails the newest segment on disk (0 when caught up)."""
        if self.newest_on_disk_ns is None:
            return 0.0
        scanned = self.newest_scanned_ns or 0
        return max(0.0, (self.newest_on_disk_ns - scanned) / 1e9)


def look_in(
    catalog: Catalog,
    root: Path,
    folders: list[Path],
    known: watch_q.Known,
    layout: str,
    tracker: StabilityTracker,
    report: WatchReport,
    stop: threading.Event | None = None,
    by_age: bool = False,
) -> None:
    """Ingest the settled files under `folders` that `known` (the catalog's files there) does
    not hold with the same size and mtime, each in its own transaction, as `gapfill ingest`
    does. A known file costs one stat and is never opened. A bad file is ingest's business (it
    records it as unreadable); a failure of one file is logged and does not stop the others."""
    # ingest() walks a whole tree; the daemon needs its per-file step behind the stability check.
    from gapfill.ingest import IngestReport, _ingest_file, _place, walk_files

    actor = f"system:{socket.gethostname()}"
    files = IngestReport()
    for folder in folders:
        report.listed += 1
        for path in walk_files(folder, lambda p, why: files.skipped.append((p, why))):
            if stop is not None and stop.is_set():
                return
            try:
                info = path.stat()
            except OSError:
                continue
            report.newest_on_disk_ns = max(report.newest_on_disk_ns or 0, info.st_mtime_ns)
            signature = (info.st_size, info.st_mtime_ns)
            catalogued = known.get(str(path))
            if catalogued == signature:
                tracker.forget(path)
                continue
            if catalogued is not None and not tracker.first_report(path, signature):
                continue  # a changed original, reported already
            if catalogued is None and not tracker.settled(path, by_age=by_age):
                report.waiting += 1
                continue
            tracker.forget(path)
            placement = _place(path, root, layout, None)  # type: ignore[arg-type]
            if placement is None:
                continue  # not a segment of this layout; ingest would skip it too
            try:
                with catalog.session() as session:
                    _ingest_file(session, path, placement, files, actor)
            except Exception:
                log.exception("ingest failed", extra={"path": str(path)})
                report.problems += 1
    for severity, path_text, reason in files.problems():
        log.warning("ingest: %s", reason, extra={"path": path_text, "severity": severity})
    report.ingested += len(files.added)
    report.problems += len(files.unreadable) + len(files.changed_originals)


def ingest_settled(
    catalog: Catalog,
    root: Path,
    layout: str,
    tracker: StabilityTracker,
    report: WatchReport,
    stop: threading.Event | None = None,
) -> None:
    """The full walk: every file under `root` against every file the catalog holds there. What
    the flat layout does each tick (it has no time partitions), fit for small trees."""
    root = root.expanduser().absolute()
    if not root.is_dir():
        log.warning("recordings directory missing", extra={"path": str(root)})
        report.problems += 1
        return
    with catalog.session() as session:
        known = watch_q.catalogued_under(session, f"{root}{os.sep}")
    look_in(catalog, root, [root], known, layout, tracker, report, stop)
    # A file deleted before it settled is forgotten; every other one was just looked at.
    tracker.prune(lambda path: os.path.exists(path))


@dataclass
class WatchState:
    """What the watch keeps between ticks in memory; all of it can be lost (a restart)."""

    tracker: StabilityTracker = field(default_factory=StabilityTracker)
    use_events: bool = True
    hints: Any = None  # FsHints once started; None: no events (not wanted, or unavailable)
    ticks: int = 0
    newest_on_disk_ns: int | None = None
    # Per root: monotonic time of the next reconcile round (absent: at the next tick, so a
    # restarted daemon first looks at the hours it missed), and the hour folders of this round
    # still to list, newest first.
    next_round: dict[Path, float] = field(default_factory=dict)
    to_reconcile: dict[Path, list[Partition]] = field(default_factory=dict)

    def events(self) -> Any:
        if self.use_events and self.hints is None:
            from gapfill.jobs.fs_events import FsHints

            self.hints = FsHints.start()
            self.use_events = self.hints is not None
        return self.hints if self.hints is not None and self.hints.alive() else None

    def close(self) -> None:
        if self.hints is not None:
            self.hints.close()
            self.hints = None


def _camera_folders(partition_folder: Path) -> list[Path]:
    try:
        with os.scandir(partition_folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=True))
    except OSError:
        return []


def look_at_partition(
    catalog: Catalog,
    root: Path,
    partition: Partition,
    folders: list[Path] | None,
    state: WatchState,
    report: WatchReport,
    stop: threading.Event | None,
    by_age: bool = False,
) -> None:
    """List `folders` (camera folders of the partition; None: all of them, and the partition is
    then recorded as looked at in full) and ingest what is new."""
    base = partition.folder(root)
    if folders is None and not base.is_dir():
        return  # no such hour (yet): a stat, not a listing
    cameras = _camera_folders(base) if folders is None else folders
    slack = dt.timedelta(minutes=1)  # a start a recorder rounded across the hour
    with catalog.session() as session:
        known = watch_q.catalogued_in_hour(
            session,
            {f.name for f in cameras},
            partition.start - slack,
            partition.end + slack,
            f"{base}{os.sep}",
        )
    look_in(catalog, root, cameras, known, "frigate", state.tracker, report, stop, by_age)
    if folders is None and not (stop is not None and stop.is_set()):
        with catalog.session() as session:
            watch_q.mark_looked(session, str(root), partition.key, dt.datetime.now(dt.UTC))


def watch_live(
    catalog: Catalog,
    root: Path,
    live: list[Partition],
    state: WatchState,
    report: WatchReport,
    stop: threading.Event | None,
) -> None:
    """The live hour folders of `root`: in full without events (and every FULL_LOOK_EVERY
    ticks), else only the camera folders events named and those holding a file still settling."""
    from gapfill.jobs.fs_events import FULL_LOOK_EVERY

    hints = state.events()
    folders = {p.folder(root): p for p in live}
    if hints is None or state.ticks % FULL_LOOK_EVERY == 0:
        if hints is not None:  # watch first: what happens during the listing is an event
            hints.watch_only(list(folders))
            hints.take()
        for partition in live:
            look_at_partition(catalog, root, partition, None, state, report, stop)
        return
    started = hints.watch_only(list(folders))
    touched = hints.take() | {p.parent for p in state.tracker.pending()}
    for folder, partition in folders.items():
        if folder in started or folder not in hints.watched():
            look_at_partition(catalog, root, partition, None, state, report, stop)
            continue
        cameras = {t for t in touched if t.parent == folder}
        if folder in touched:  # the hour folder itself changed: a camera folder came or went
            cameras |= set(_camera_folders(folder))
        if cameras:
            look_at_partition(catalog, root, partition, sorted(cameras), state, report, stop)


def reconcile(
    catalog: Catalog,
    root: Path,
    live: list[Partition],
    settings: Settings,
    state: WatchState,
    report: WatchReport,
    stop: threading.Event | None,
) -> None:
    """List older hour folders not looked at in the last `watch_reconcile_hours`, newest first,
    for at most `watch_reconcile_seconds` of this tick; the rest waits for the next ticks."""
    clock = time.monotonic()
    if clock >= state.next_round.get(root, 0.0):
        every = dt.timedelta(hours=settings.watch_reconcile_hours)
        state.next_round[root] = clock + every.total_seconds()
        older = [p for p in partitions_on_disk(root) if p not in live]
        with catalog.session() as session:
            recent = watch_q.looked_since(
                session, str(root), [p.key for p in older], dt.datetime.now(dt.UTC) - every
            )
        state.to_reconcile[root] = sorted((p for p in older if p.key not in recent), reverse=True)
    # At least one folder per tick, so that a budget smaller than one folder still gets through.
    budget_end = time.monotonic() + settings.watch_reconcile_seconds
    due = state.to_reconcile.get(root, [])
    while due and not (stop is not None and stop.is_set()):
        look_at_partition(catalog, root, due.pop(0), None, state, report, stop, by_age=True)
        report.reconciled += 1
        if time.monotonic() >= budget_end:
            break


def watch_root(
    catalog: Catalog,
    root: Path,
    settings: Settings,
    state: WatchState,
    report: WatchReport,
    stop: threading.Event | None = None,
) -> None:
    """One tick's look at one recordings root, by its layout (see the module docstring)."""
    root = root.expanduser().absolute()
    if settings.recordings_layout == "flat":
        ingest_settled(catalog, root, "flat", state.tracker, report, stop)
        return
    if not root.is_dir():
        log.warning("recordings directory missing", extra={"path": str(root)})
        report.problems += 1
        return
    live = live_partitions(
        dt.datetime.now(dt.UTC), dt.timedelta(seconds=settings.watch_margin_seconds)
    )
    if settings.recordings_layout == "frigate-db":
        from gapfill.jobs.watch_frigate import ingest_newest_rows

        ingest_newest_rows(catalog, root, settings, report)
    else:
        watch_live(catalog, root, live, state, report, stop)
    reconcile(catalog, root, live, settings, state, report, stop)
    prefixes = tuple(f"{p.folder(root)}{os.sep}" for p in live)
    others = tuple(f"{r.expanduser().absolute()}{os.sep}" for r in settings.recordings_dirs)
    # Keep what is settling in a live folder of this root, and everything of the other roots.
    mine = f"{root}{os.sep}"
    state.tracker.prune(
        lambda path: (
            path.startswith(prefixes) or (not path.startswith(mine) and path.startswith(others))
        )
    )


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


def newest_scanned_mtime_ns(catalog: Catalog) -> int | None:
    with catalog.session() as session:
        return recordings_q.newest_scanned_mtime_ns(session)


def watch_once(
    catalog: Catalog,
    settings: Settings,
    state: WatchState,
    stop: threading.Event | None = None,
    scan_workers: int = 1,
) -> WatchReport:
    """One tick: ingest settled segments of every recordings dir, scan what is new, queue the
    open defects. Never raises for bad media; a failing step is logged and the tick goes on."""
    from gapfill.detect.scan import scan

    report = WatchReport()
    for root in settings.recordings_dirs:
        watch_root(catalog, root, settings, state, report, stop)
    state.ticks += 1
    if report.newest_on_disk_ns is not None:
        state.newest_on_disk_ns = max(state.newest_on_disk_ns or 0, report.newest_on_disk_ns)
    report.newest_on_disk_ns = state.newest_on_disk_ns
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
