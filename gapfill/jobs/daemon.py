"""`gapfill daemon`: the scheduler, N repair worker processes, and /healthz + /metrics.

One daemon per site runs the schedule (APScheduler with its jobs persisted in the catalog's
`apscheduler_jobs` table, so a run missed while the daemon was down still happens when it comes
back within the run's grace time). Workers are separate processes (multiprocessing, spawn: the
model and its threads are not forked), restarted when they die; more workers on other hosts run
`gapfill worker` against the same PostgreSQL.

SIGTERM/SIGINT: no new scheduled runs; each worker finishes or releases its job within
shutdown_grace_seconds; running tasks get the same grace; exit 0. SIGKILL loses nothing: the
catalog is written one unit at a time, the worker processes notice their daemon is gone and stop as
on SIGTERM, and a job whose worker vanished is reclaimed when its lease expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import queue as stdqueue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.scheduler import ping, stored_next_runs
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.jobs import tasks
from gapfill.jobs.metrics import DaemonMetrics, serve
from gapfill.jobs.settle import StabilityTracker
from gapfill.jobs.watch import WatchState
from gapfill.jobs.window import RETENTION_INTERVAL, RepairWindow, cron_trigger, local_timezone
from gapfill.jobs.worker import Outcome, WorkerOptions, worker_process_main

log = logging.getLogger("gapfill.jobs.daemon")

JOBSTORE_TABLE = "apscheduler_jobs"
RESTART_BACKOFF_MAX = 60.0


@dataclass(frozen=True)
class DaemonOptions:
    workers: int = 1
    repair_now: bool = False  # open the repair window now, and keep it open
    settle_seconds: float = 5.0
    abandon_seconds: float = 600.0
    lease_seconds: float = 600.0
    poll_seconds: float = 5.0
    metrics_host: str = "127.0.0.1"


@dataclass
class _Slot:
    """One worker process and its restart bookkeeping."""

    index: int
    process: Any = None
    restarts: int = 0
    not_before: float = 0.0
    history: list[int] = field(default_factory=list)  # exit codes


class Daemon:
    def __init__(self, catalog: Catalog, settings: Settings, options: DaemonOptions) -> None:
        self.catalog, self.settings, self.options = catalog, settings, options
        self.stop = threading.Event()
        self.metrics = DaemonMetrics(catalog)
        self.window = RepairWindow.from_settings(settings, options.repair_now)
        cron_trigger(settings.verify_schedule, "verify_schedule")  # refuse a bad line now
        self.context = tasks.DaemonContext(
            catalog,
            settings,
            self.metrics,
            self.window,
            watch=WatchState(
                StabilityTracker(options.settle_seconds, options.abandon_seconds),
                use_events=settings.watch_events,
            ),
            stop=self.stop,
        )
        self._mp = multiprocessing.get_context("spawn")
        self.events: Any = self._mp.Queue()
        self.slots = [_Slot(i) for i in range(options.workers)]
        self.scheduler: Any = None
        self.server: Any = None
        self.mqtt: Any = None  # MqttPublisher, with mqtt_url
        self.relay: Any = None  # EventRelay

    # --- running --------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        tasks.bind(self.context)
        if self.settings.metrics_port:
            try:
                self.server = serve(
                    self.metrics, self.settings.metrics_port, self.health, self.options.metrics_host
                )
            except OSError as exc:
                raise UserError(
                    f"metrics {self.options.metrics_host}:{self.settings.metrics_port}: "
                    f"cannot listen: {exc.strerror}"
                ) from None
        self._start_mqtt()
        self.scheduler = self._start_scheduler()
        threading.Thread(target=self._drain_events, name="worker-events", daemon=True).start()
        log.warning(  # warning: the default log level shows a daemon starting
            "daemon started",
            extra={
                "workers": self.options.workers,
                "metrics_port": self.settings.metrics_port,
                "metrics_host": self.options.metrics_host,
                "repair_now": self.options.repair_now,
            },
        )
        try:
            while not self.stop.wait(0.5):
                self._supervise()
        finally:
            self._shutdown()
        return 0

    def _start_mqtt(self) -> None:
        """Events to the plant's broker, when mqtt_url is set (docs/mqtt.md). The connection is
        made in the background: a broker that is down does not hold the daemon up."""
        if not self.settings.mqtt_url:
            return
        from gapfill.jobs.metrics import MqttCollector
        from gapfill.mqtt.publisher import MqttPublisher
        from gapfill.mqtt.relay import EventRelay

        self.mqtt = MqttPublisher(
            self.settings.mqtt_url, self.settings.mqtt_prefix, self.settings.mqtt_queue_size
        )
        self.metrics.registry.register(MqttCollector(self.mqtt))
        self.mqtt.start()
        self.relay = EventRelay(self.catalog, self.mqtt)
        self.relay.start()

    def _stop_mqtt(self) -> None:
        if self.relay is not None:
            self.relay.close()
        if self.mqtt is not None:
            self.mqtt.stop()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("signal %s received: stopping", signal.Signals(signum).name)
        self.stop.set()

    def health(self) -> tuple[bool, dict[str, Any]]:
        facts: dict[str, Any] = {}
        try:
            ping(self.catalog.engine)
            facts["catalog"] = "ok"
        except Exception as exc:
            facts["catalog"] = f"unreachable: {type(exc).__name__}"
        alive = sum(1 for s in self.slots if s.process is not None and s.process.is_alive())
        facts["workers_alive"], facts["workers"] = alive, len(self.slots)
        facts["scheduler"] = bool(self.scheduler is not None and self.scheduler.running)
        facts["repair_window_open"] = self.window.is_open()
        facts["last_watch"] = self.context.last_watch
        facts["stopping"] = self.stop.is_set()
        ok = facts["catalog"] == "ok" and facts["scheduler"] and alive == len(self.slots)
        return ok, facts

    # --- the schedule -----------------------------------------------------------------------

    def _start_scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.catalog.engine, tablename=JOBSTORE_TABLE)
            },
            # One thread per task kind: a long scan never delays verify or the window.
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=local_timezone(),
        )
        scheduler.start(paused=True)  # jobs are reconciled before any of them may run
        for job_id, func, trigger, grace in self._planned_jobs():
            self._ensure_job(scheduler, job_id, func, trigger, grace)
        if not self.settings.retention_days and scheduler.get_job("retention") is not None:
            scheduler.remove_job("retention")
        if self.options.repair_now:
            scheduler.add_job(
                tasks.repair_window_task, "date", id="repair-now", replace_existing=True
            )
        scheduler.resume()
        return scheduler

    def _planned_jobs(self) -> list[tuple[str, Any, Any, int]]:
        from apscheduler.triggers.interval import IntervalTrigger

        tz = local_timezone()
        interval = self.settings.scan_interval_seconds
        jobs = [
            ("watch", tasks.watch_task, IntervalTrigger(seconds=interval, timezone=tz), interval),
            # Misfire grace = the window: a daemon back within the window still opens it.
            (
                "repair-window",
                tasks.repair_window_task,
                cron_trigger(self.settings.repair_schedule, "repair_schedule", tz),
                int(self.settings.repair_window_hours * 3600),
            ),
            (
                "verify",
                tasks.verify_task,
                cron_trigger(self.settings.verify_schedule, "verify_schedule", tz),
                12 * 3600,
            ),
        ]
        if self.settings.retention_days:
            jobs.append(
                (
                    "retention",
                    tasks.retention_task,
                    IntervalTrigger(seconds=RETENTION_INTERVAL.total_seconds(), timezone=tz),
                    int(RETENTION_INTERVAL.total_seconds()),
                )
            )
        return jobs

    @staticmethod
    def _ensure_job(scheduler: Any, job_id: str, func: Any, trigger: Any, grace: int) -> None:
        """Keep a stored job whose schedule is unchanged (so its pending or missed run is kept);
        replace it when the configuration changed."""
        existing = scheduler.get_job(job_id)
        if existing is not None and str(existing.trigger) == str(trigger):
            ref = f"{func.__module__}:{func.__qualname__}"
            if existing.func_ref == ref and existing.misfire_grace_time == grace:
                return
        scheduler.add_job(func, trigger, id=job_id, replace_existing=True, misfire_grace_time=grace)

    # --- workers --------------------------------------------------------------------------

    def _worker_options(self) -> WorkerOptions:
        return WorkerOptions(
            lease_seconds=self.options.lease_seconds,
            poll_seconds=self.options.poll_seconds,
            repair_now=self.options.repair_now,
        )

    def _supervise(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and process.is_alive():
                continue
            if process is not None:
                slot.history.append(process.exitcode)
                log.error(
                    "worker process ended; restarting",
                    extra={"worker": slot.index, "exitcode": process.exitcode},
                )
                slot.process = None
                slot.restarts += 1
                slot.not_before = now + min(2.0**slot.restarts, RESTART_BACKOFF_MAX)
            if now >= slot.not_before:
                slot.process = self._mp.Process(
                    target=worker_process_main,
                    args=(self._worker_options(), self.events),
                    name=f"gapfill-worker-{slot.index}",
                )
                slot.process.start()
                log.info("worker process started", extra={"pid": slot.process.pid})

    def _drain_events(self) -> None:
        while True:
            try:
                kind, payload = self.events.get(timeout=0.5)
            except stdqueue.Empty:
                if self.stop.is_set() and not any(
                    s.process is not None and s.process.is_alive() for s in self.slots
                ):
                    return
                continue
            except (EOFError, OSError):
                return
            if kind == "outcome" and isinstance(payload, Outcome):
                self.metrics.observe_repair(payload.outcome, payload.seconds)

    # --- stopping -------------------------------------------------------------------------

    def _shutdown(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        deadline = time.monotonic() + grace + 10.0  # workers get their grace, plus slack to exit
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                os.kill(slot.process.pid, signal.SIGTERM)
        for slot in self.slots:
            if slot.process is None:
                continue
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                log.error(
                    "worker did not stop in time; killed (its job is reclaimed after its lease)",
                    extra={"pid": slot.process.pid},
                )
                slot.process.kill()
                slot.process.join(5)
        while self.context.running and time.monotonic() < deadline:
            time.sleep(0.1)
        if not self.context.running:
            self.context.watch.close()  # else the tick still running uses it; exit ends it
        self._stop_mqtt()  # after the workers: what they finished is told, then "offline"
        if self.server is not None:
            self.server.shutdown()
        busy = self.context.running
        tasks.bind(None)
        log.warning("daemon stopped", extra={"tasks_interrupted": busy})
        for handler in logging.getLogger().handlers:
            handler.flush()
        if busy:
            # A scan is still decoding in a scheduler thread; its finished files are committed
            # and the rest is picked up next time. Do not wait for it at interpreter exit.
            os._exit(0)


def next_runs_of_stored_jobs(catalog: Catalog) -> dict[str, dt.datetime | None]:
    """Next run times the running (or last) daemon stored, by job id; empty before any daemon."""
    return {
        job_id: dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp is not None else None
        for job_id, stamp in stored_next_runs(catalog.engine, JOBSTORE_TABLE)
    }
