"""A repair worker: claim a job, keep its lease alive, repair, record the outcome; repeat.

Runs as one of the daemon's worker processes or alone (`gapfill worker`) on any host that reaches
the catalog. Jobs are claimed only while the repair window is open (window.py).

Shutdown and crashes:
- SIGTERM/SIGINT: no new claim; the job in hand may finish within `shutdown_grace_seconds`.
  If it has not by then, the job is released (queued again, the attempt not counted) and the
  process exits at once: repair writes its files under temporary names and records them in one
  transaction, so stopping it anywhere leaves nothing half-made under a final name.
- The daemon that started the worker process killed (SIGKILL): the worker notices its parent is
  gone and stops as on SIGTERM.
- SIGKILL (or a lost host): the lease is no longer renewed; after it expires another worker
  reclaims the job. A repair that had already been recorded is then skipped, so no defect gets
  two clips.
- A repair killed between recording its clip and renaming it into place: the worker finishes it
  when it starts and then every few minutes (recovery.py), as `gapfill repair` does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError

from gapfill.catalog.db import Catalog
from gapfill.config import Settings
from gapfill.jobs import queue
from gapfill.jobs.recovery import RECOVERY_INTERVAL, recover_interrupted
from gapfill.jobs.window import RepairWindow

log = logging.getLogger("gapfill.jobs.worker")


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = queue.DEFAULT_LEASE.total_seconds()
    heartbeat_seconds: float | None = None  # default: a quarter of the lease
    poll_seconds: float = 5.0
    repair_now: bool = False  # claim outside the repair window
    max_jobs: int | None = None  # stop after this many jobs (tests, batch runs)
    name: str | None = None  # identity in claimed_by; default host:pid

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def beat(self) -> float:
        return self.heartbeat_seconds or max(self.lease_seconds / 4, 0.2)


@dataclass(frozen=True)
class Outcome:
    """What one job came to, for logs and metrics."""

    job_id: int
    defect_id: int
    outcome: str  # repaired, unrepairable, skipped, failed, released, lost
    seconds: float
    synthetic_seconds: float = 0.0
    error: str | None = None


# (defect_id, job_id, actor) -> object with .state and .synthetic_seconds (a RepairResult)
RepairFn = Callable[[int, int, str], Any]
# Finishes what crashed repairs left (recovery.recover_interrupted); the return value is unused.
RecoverFn = Callable[[], Any]


def default_repair(catalog: Catalog, settings: Settings) -> RepairFn:
    def run(defect_id: int, job_id: int, actor: str) -> Any:
        # Imported here: the model stack is heavy and only workers need it.
        from gapfill.repair.run import repair_defect

        return repair_defect(catalog, settings, defect_id, job_id=job_id, actor=actor)

    return run


class Worker:
    """One worker loop. `stop` ends it after the current job; see `install_signal_handlers`."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        options: WorkerOptions | None = None,
        repair: RepairFn | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        stop: threading.Event | None = None,
        recover: RecoverFn | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.options = options or WorkerOptions()
        self.identity = self.options.name or queue.worker_identity()
        self.repair = repair or default_repair(catalog, settings)
        if recover is None and repair is None:
            # Real repairs write clips, so this worker also finishes the ones a crash cut off.
            # A stand-in repair (tests) writes none: recover only when asked.
            recover = partial(recover_interrupted, catalog, settings)
        self.recover = recover
        self._next_recovery = 0.0  # monotonic time; 0: at the first chance
        self.on_outcome = on_outcome
        self.stop = stop or threading.Event()
        self.window = RepairWindow.from_settings(settings, self.options.repair_now)
        self.current: queue.Claim | None = None
        self._state_lock = threading.Lock()
        self.jobs_run = 0

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped (or max_jobs done). Returns the number of jobs run."""
        log.info("worker started", extra={"worker": self.identity})
        self.recover_if_due()  # even a worker stopped at once leaves the site tidy
        while not self.stop.is_set():
            if self.options.max_jobs is not None and self.jobs_run >= self.options.max_jobs:
                break
            self.recover_if_due()
            claim = self.claim()
            if claim is None:
                self.stop.wait(self.options.poll_seconds)
                continue
            if self.stop.is_set():  # asked to stop while claiming: hand it straight back
                self._give_back(claim)
                break
            self.run_job(claim)
        log.info("worker stopped", extra={"worker": self.identity, "jobs": self.jobs_run})
        return self.jobs_run

    def recover_if_due(self) -> None:
        """Run crash recovery at start and then every RECOVERY_INTERVAL. A failure is logged and
        retried next time: it must never stop the worker from repairing."""
        if self.recover is None or time.monotonic() < self._next_recovery:
            return
        self._next_recovery = time.monotonic() + RECOVERY_INTERVAL
        try:
            self.recover()
        except Exception:
            log.exception("crash recovery failed", extra={"worker": self.identity})

    def claim(self) -> queue.Claim | None:
        """The next job, if the window is open and one is claimable. A database hiccup is
        logged and treated as 'nothing now' (the loop tries again after its poll interval)."""
        if not self.window.is_open():
            return None
        try:
            with self.catalog.session() as session:
                claim = queue.claim_next(session, self.identity, self.options.lease)
                if claim is not None:
                    # Set before the commit makes the claim real, so a SIGTERM arriving in
                    # between still finds the job to release.
                    with self._state_lock:
                        self.current = claim
        except Exception as exc:
            with self._state_lock:
                self.current = None  # the claim was rolled back
            if isinstance(exc, OperationalError):  # busy or unreachable database: try later
                log.warning("claim failed: %s", exc.orig, extra={"worker": self.identity})
            else:
                log.exception("claim failed", extra={"worker": self.identity})
            return None
        return claim

    def _give_back(self, claim: queue.Claim) -> None:
        extra = {"job_id": claim.job_id, "defect_id": claim.defect_id, "worker": self.identity}
        try:
            with self.catalog.session() as session:
                queue.release(session, claim)
            log.info("job released unstarted", extra=extra)
        except Exception:
            log.exception("releasing the job failed; its lease will expire", extra=extra)
        with self._state_lock:
            self.current = None

    def run_job(self, claim: queue.Claim) -> Outcome:
        extra = {"job_id": claim.job_id, "defect_id": claim.defect_id, "worker": self.identity}
        log.info("job started", extra={**extra, "attempt": claim.attempt})
        beating = _Heartbeat(self.catalog, claim, self.options)
        beating.start()
        began = time.monotonic()
        actor = f"system:{self.identity}"
        try:
            result = self.repair(claim.defect_id, claim.job_id, actor)
        except Exception as exc:  # the job failed, never the worker
            beating.stop()
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job failed", extra={**extra, "error": error})
            state = self._record(lambda s: queue.fail(s, claim, error), extra)
            outcome = Outcome(
                claim.job_id, claim.defect_id, "failed", time.monotonic() - began, error=error
            )
            log.info("job requeued or given up", extra={**extra, "state": state})
        else:
            beating.stop()
            done = self._record(lambda s: queue.complete(s, claim), extra)
            kind = result.state if done else "lost"
            if not done:
                log.warning("job no longer ours (cancelled or reclaimed)", extra=extra)
            outcome = Outcome(
                claim.job_id,
                claim.defect_id,
                kind,
                time.monotonic() - began,
                float(getattr(result, "synthetic_seconds", 0.0) or 0.0),
                getattr(result, "reason", None),
            )
            log.info(
                "job finished",
                extra={**extra, "outcome": kind, "seconds": round(outcome.seconds, 3)},
            )
        finally:
            with self._state_lock:
                self.current = None
            self.jobs_run += 1
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("reporting the outcome failed", extra=extra)
        return outcome

    def _record(self, action: Callable[[Any], Any], extra: dict[str, Any]) -> Any:
        """Write the job's outcome; retried a few times, because losing it would rerun the job.
        If it cannot be written at all, the lease expires and the job is reclaimed."""
        for attempt in range(5):
            try:
                with self.catalog.session() as session:
                    return action(session)
            except Exception:
                log.exception("recording the job outcome failed", extra=extra)
                time.sleep(0.5 * 2**attempt)
        return None

    # --- shutdown ---------------------------------------------------------------------------

    def request_stop(self, grace: float) -> None:
        """Stop after the current job; release it and exit if it is not done within `grace`."""
        if self.stop.is_set():
            return
        self.stop.set()
        with self._state_lock:
            claim = self.current
        if claim is None:
            return
        log.info(
            "stopping: finishing the current job",
            extra={"job_id": claim.job_id, "defect_id": claim.defect_id, "grace_seconds": grace},
        )
        threading.Thread(
            target=self._release_after, args=(claim, grace), name="grace", daemon=True
        ).start()

    def _release_after(self, claim: queue.Claim, grace: float) -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._state_lock:
                if self.current != claim:
                    return  # finished in time
            time.sleep(0.05)
        with self._state_lock:
            if self.current != claim:
                return
        extra = {"job_id": claim.job_id, "defect_id": claim.defect_id, "worker": self.identity}
        try:
            with self.catalog.session() as session:
                released = queue.release(session, claim)
            log.warning("grace time over: job released", extra={**extra, "released": released})
        except Exception:
            log.exception("releasing the job failed; its lease will expire", extra=extra)
        for handler in logging.getLogger().handlers:
            handler.flush()
        # The repair is somewhere inside the model or the encoder: stop the process there.
        os._exit(0)


def install_signal_handlers(worker: Worker, grace: float) -> None:
    """SIGTERM and SIGINT ask the worker to stop (main thread only)."""

    def handle(signum: int, _frame: Any) -> None:
        log.info("signal %s received", signal.Signals(signum).name)
        worker.request_stop(grace)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


class _Heartbeat:
    """Renews the lease in a background thread while the repair runs in the main one."""

    def __init__(self, catalog: Catalog, claim: queue.Claim, options: WorkerOptions) -> None:
        self.catalog, self.claim, self.options = catalog, claim, options
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.lost = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        extra = {"job_id": self.claim.job_id, "defect_id": self.claim.defect_id}
        while not self._stop.wait(self.options.beat):
            try:
                with self.catalog.session() as session:
                    ours = queue.heartbeat(session, self.claim, self.options.lease)
            except Exception:  # the next beat may get through; the lease has slack
                log.exception("heartbeat failed", extra=extra)
                continue
            if not ours and not self.lost:
                self.lost = True
                log.warning("heartbeat: job no longer ours (cancelled or reclaimed)", extra=extra)


def stop_when_orphaned(worker: Worker, grace: float) -> None:
    """Stop `worker` as SIGTERM would once the process that started it is gone.

    A daemon killed with SIGKILL cannot pass SIGTERM on to its workers; without this they would
    go on claiming jobs with nobody supervising them, and every restart of the daemon would add
    another set. The job in hand is finished or released within `grace`, as on SIGTERM."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing (`gapfill worker`): nothing to watch
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the sentinel pipe closes: it died
        log.warning("daemon process gone: stopping", extra={"worker": worker.identity})
        worker.request_stop(grace)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker_process_main(options: WorkerOptions, events: Any = None) -> None:
    """Entry point of a daemon's worker process (multiprocessing, spawn start method): reads the
    configuration from the environment it inherited, works until SIGTERM."""
    from gapfill import logs
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_json)

    def report(outcome: Outcome) -> None:
        if events is not None:
            events.put(("outcome", outcome))

    with open_catalog(settings) as catalog:
        worker = Worker(catalog, settings, options, on_outcome=report)
        install_signal_handlers(worker, settings.shutdown_grace_seconds)
        stop_when_orphaned(worker, settings.shutdown_grace_seconds)
        worker.run()
    sys.exit(0)
