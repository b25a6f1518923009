"""The daemon's scheduled tasks, as plain module-level functions.

APScheduler's SQLAlchemyJobStore keeps each job as a reference to its function ("module:name"),
not as the function itself, so the tasks are functions without arguments that find the running
daemon's state through `bind()`. Every task catches its own failures: a failing task is logged
(and counted where a metric says so) and runs again at its next time; it never stops the daemon.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.jobs import jobs_runnable_by
from gapfill.config import Settings
from gapfill.jobs.metrics import DaemonMetrics
from gapfill.jobs.watch import WatchState, queue_open_defects, watch_once
from gapfill.jobs.window import RepairWindow

log = logging.getLogger("gapfill.jobs.tasks")


@dataclass
class DaemonContext:
    catalog: Catalog
    settings: Settings
    metrics: DaemonMetrics
    window: RepairWindow
    watch: WatchState = field(default_factory=WatchState)  # the watch's memory between ticks
    stop: threading.Event = field(default_factory=threading.Event)
    actor: str = field(default_factory=lambda: f"system:{socket.gethostname()}")
    scan_workers: int = 1
    last_watch: float | None = None  # unix time of the last finished watch tick
    running: int = 0  # tasks in progress (the daemon waits for them at shutdown)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        with self._lock:
            self.running += 1

    def leave(self) -> None:
        with self._lock:
            self.running -= 1


_context: DaemonContext | None = None


def bind(context: DaemonContext | None) -> None:
    """Make `context` the state the tasks of this process work on."""
    global _context
    _context = context


def _ctx() -> DaemonContext | None:
    if _context is None:
        log.error("task ran with no daemon bound; skipped")
    return _context


def watch_task() -> None:
    """Ingest settled segments, scan them, queue open defects; update the scan lag."""
    ctx = _ctx()
    if ctx is None or ctx.stop.is_set():
        return
    ctx.enter()
    try:
        report = watch_once(ctx.catalog, ctx.settings, ctx.watch, ctx.stop, ctx.scan_workers)
        ctx.metrics.scan_lag.set(report.scan_lag_seconds)
        ctx.last_watch = time.time()
    except Exception:
        log.exception("watch task failed")
    finally:
        ctx.leave()


def repair_window_task() -> None:
    """Start of a repair window: queue every open defect, then follow the queue until it is
    drained (the night's success, exported as a timestamp) or the window ends (the rest waits for
    the next window). The workers do the repairs; they check the window themselves."""
    ctx = _ctx()
    if ctx is None or ctx.stop.is_set():
        return
    ctx.enter()
    try:
        current = ctx.window.current()
        if current is None:  # fired late (the daemon was down), after its window closed
            log.warning("repair window missed; its jobs wait for the next window")
            return
        start, end = current
        queued = queue_open_defects(ctx.catalog, ctx.settings.repair_min_activity)
        log.info(
            "repair window open",
            extra={"until": end.isoformat(), "queued": queued, "window_start": start.isoformat()},
        )
        poll = min(5.0, float(ctx.settings.scan_interval_seconds))
        while not ctx.stop.is_set():
            remaining = _window_work_left(ctx.catalog, end)
            if remaining == 0:
                ctx.metrics.last_nightly_success.set(time.time())
                log.info("repair window: queue drained", extra={"window_start": start.isoformat()})
                return
            if time.time() >= end.timestamp():
                log.warning(
                    "repair window closed with jobs left; they wait for the next window",
                    extra={"jobs_left": remaining},
                )
                return
            ctx.stop.wait(poll)
    except Exception:
        log.exception("repair window task failed")
    finally:
        ctx.leave()


def _window_work_left(catalog: Catalog, end: object) -> int:
    """Jobs this window can still run: running ones, and queued ones due before it ends."""
    with catalog.session() as session:
        return jobs_runnable_by(session, end)


def verify_task() -> None:
    """Verify every clip and the provenance chain; problems are logged as errors and counted in
    gapfill_verify_failures (the alert to page on)."""
    ctx = _ctx()
    if ctx is None or ctx.stop.is_set():
        return
    ctx.enter()
    try:
        from gapfill.provenance.verify import verify

        report = verify(ctx.catalog, ctx.settings, all_clips=True)
        problems, expired = [p.line() for p in report.problems], report.clips_expired
        ctx.metrics.verify_problems.set(len(problems))
        ctx.metrics.last_verify.set(time.time())
        if problems:
            ctx.metrics.verify_failures.inc()
            for line in problems[:100]:
                log.error("verify: %s", line, extra={"problem": line})
            log.error("verify failed", extra={"problems": len(problems)})
        else:
            log.info("verify ok", extra={"expired_clips_set_aside": expired})
    except Exception:
        ctx.metrics.verify_failures.inc()
        log.exception("verify could not run")
    finally:
        ctx.leave()


def retention_task() -> None:
    """Expire clips older than retention_days (their rows and history stay)."""
    from gapfill.jobs.retention import expire_outputs

    ctx = _ctx()
    if ctx is None or ctx.stop.is_set():
        return
    ctx.enter()
    try:
        report = expire_outputs(ctx.catalog, ctx.settings, ctx.actor)
        ctx.metrics.expired_clips.inc(len(report.expired))
    except Exception:
        log.exception("retention task failed")
    finally:
        ctx.leave()
