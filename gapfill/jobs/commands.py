"""CLI of the unattended side: `gapfill daemon`, `gapfill worker`, `gapfill schedule`,
`gapfill jobs [retry|cancel]`. Heavy modules (APScheduler, the model) load inside the commands."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from gapfill import preflight
from gapfill.api.schemas import MAX_INT
from gapfill.config import load_settings
from gapfill.console import emit, emit_object
from gapfill.errors import UserError
from gapfill.times import MAX_LENGTH_SECONDS

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RepairNow = Annotated[
    bool,
    typer.Option(
        "--repair-now",
        help="Repair queued defects now instead of only inside the nightly window "
        "(catching up by hand; tests).",
    ),
]
Lease = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=1.0,
        max=MAX_LENGTH_SECONDS,
        help="A job whose worker stops renewing it for this long is reclaimed by another.",
    ),
]
Poll = Annotated[
    float,
    typer.Option(
        "--poll-seconds",
        min=0.05,
        max=MAX_LENGTH_SECONDS,
        help="Idle worker: look for jobs this often.",
    ),
]
MetricsHost = Annotated[
    str | None,
    typer.Option(
        "--metrics-host",
        help="Address of /healthz and /metrics (default: settings.metrics_host, 127.0.0.1); "
        "0.0.0.0 in a container so Prometheus can scrape it.",
    ),
]

LIST_COLUMNS = [
    "id",
    "defect_id",
    "camera",
    "kind",
    "activity",
    "state",
    "tries",
    "claimed_by",
    "error",
]

jobs_app = typer.Typer(
    help="The repair queue: list jobs; `jobs queue`, `jobs retry ID`, `jobs cancel ID`.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _job_rows(state: str | None) -> list[dict[str, object]]:
    from gapfill.catalog.db import open_catalog
    from gapfill.catalog.queries.defects import defects_with_camera_names
    from gapfill.jobs import queue

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        jobs = queue.list_jobs(session, state)
        defects = defects_with_camera_names(session, {j.defect_id for j in jobs})
        rows = []
        for job in jobs:
            defect, camera = defects[job.defect_id]
            rows.append(
                {
                    "id": job.id,
                    "defect_id": job.defect_id,
                    "camera": camera,
                    "kind": defect.kind,
                    "defect_start": defect.start_time,
                    "defect_state": defect.state,
                    # Around the defect when queued, 0 still .. 1 busy; null: unknown
                    # (gapfill/jobs/activity.py). Queued jobs are claimed by claim_rank.
                    "activity": defect.activity,
                    "claim_rank": job.claim_rank,
                    "state": job.state,
                    "attempts": job.attempts,
                    "max_attempts": job.max_attempts,
                    "claimed_by": job.claimed_by,
                    "heartbeat_at": job.heartbeat_at,
                    "lease_expires_at": job.lease_expires_at,
                    "not_before": job.not_before,
                    "created_at": job.created_at,
                    "started_at": job.started_at,
                    "finished_at": job.finished_at,
                    "error": job.error,
                }
            )
    return rows


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only jobs in this state: queued, running, done, failed, dead, cancelled."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List repair jobs, oldest first."""
    from gapfill.catalog.models import JOB_STATES

    if ctx.invoked_subcommand is not None:
        return
    if state is not None and state not in JOB_STATES:
        raise UserError(f"--state: {state!r} is not one of {', '.join(JOB_STATES)}")
    from gapfill.jobs.activity import shown

    rows = _job_rows(state)
    for row in rows:
        row["tries"] = f"{row['attempts']}/{row['max_attempts']}"
        if not as_json:
            row["activity"] = shown(row["activity"])  # type: ignore[arg-type]
            if row["error"]:
                row["error"] = str(row["error"]).splitlines()[0][:60]
    emit(
        rows,
        LIST_COLUMNS,
        as_json,
        title="repair jobs",
    )


def _person() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "unknown"


@jobs_app.command("queue")
def jobs_queue(
    defect: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_INT,
            help="Queue only this defect, whatever its activity, even if it was ignored.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue every open defect now, as the daemon does after each scan and when the repair
    window opens: busiest periods first; with repair_min_activity, the stiller ones become
    `ignored` with the reason instead (see `gapfill defects --state ignored`)."""
    from gapfill.catalog.db import open_catalog
    from gapfill.jobs import queue
    from gapfill.jobs.watch import queue_open_retrying

    settings = load_settings()
    with open_catalog(settings) as catalog:
        if defect is not None:
            with catalog.session() as session:
                job = queue.queue_defect(session, defect)
                result = {"id": job.id, "defect_id": job.defect_id, "state": job.state}
            emit_object(result, as_json)
            return
        done = queue_open_retrying(catalog, settings.repair_min_activity)
    emit_object(
        {
            "queued": len(done.job_ids),
            "job_ids": done.job_ids,
            "ignored": len(done.ignored),
            "ignored_defect_ids": done.ignored,
            "repair_min_activity": settings.repair_min_activity,
        },
        as_json,
    )


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(min=1, max=MAX_INT, help="The job to run again.")],
    as_json: JsonFlag = False,
) -> None:
    """Run a job again: now if it is waiting out a backoff; as a new job if it failed, died or
    was cancelled (its defect is queued again)."""
    _change(job_id, "retry", as_json)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(min=1, max=MAX_INT, help="The job to cancel.")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a queued or running job; its defect becomes `ignored` (retry brings it back).
    A running attempt is not interrupted, but it will not be marked done or retried."""
    _change(job_id, "cancel", as_json)


def _change(job_id: int, what: str, as_json: bool) -> None:
    from gapfill.catalog.db import open_catalog
    from gapfill.jobs import queue

    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        if what == "retry":
            job = queue.retry(session, job_id)
        else:
            job = queue.cancel(session, job_id, f"user:{_person()}")
        result = {
            "id": job.id,
            "defect_id": job.defect_id,
            "state": job.state,
            "not_before": job.not_before,
            "error": job.error,
        }
        if what == "retry" and job.id != job_id:
            result["retry_of"] = job_id
    emit_object(result, as_json)


def schedule(
    repair_now: RepairNow = False,
    as_json: JsonFlag = False,
) -> None:
    """Show what the daemon runs and when: watch/scan, the nightly repair window, verify and
    retention, with their next run times (and, once a daemon ran, the times it stored)."""
    from gapfill.catalog.db import Catalog
    from gapfill.jobs.daemon import next_runs_of_stored_jobs
    from gapfill.jobs.window import schedule_plan

    settings = load_settings()
    rows = schedule_plan(settings, repair_now=repair_now)
    try:
        with Catalog(settings.effective_database_url) as catalog:
            stored = next_runs_of_stored_jobs(catalog)
    except Exception:  # no catalog yet: the plan from the configuration is still right
        stored = {}
    for row in rows:
        row["daemon_next_run"] = stored.get(str(row["task"]))
    emit(rows, ["task", "when", "next_run", "open_until"], as_json, title="schedule")


def daemon(
    workers: Annotated[
        int | None,
        typer.Option(min=0, max=64, help="Repair worker processes (default: settings.workers)."),
    ] = None,
    repair_now: RepairNow = False,
    settle_seconds: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_LENGTH_SECONDS,
            help="A segment is ingested once unchanged for a watch tick and this old.",
        ),
    ] = 5.0,
    abandon_seconds: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_LENGTH_SECONDS,
            help="An MP4 without its index that has not changed for this long is ingested "
            "anyway (the recorder died; it is catalogued as damaged or unreadable).",
        ),
    ] = 600.0,
    lease_seconds: Lease = 600.0,
    poll_seconds: Poll = 5.0,
    metrics_host: MetricsHost = None,
) -> None:
    """Run unattended: watch recordings_dirs (ingest, scan, queue), repair in the nightly
    window with worker processes, verify provenance, apply retention; serve /healthz and
    /metrics on metrics_host:metrics_port. SIGTERM stops it cleanly."""
    from gapfill.catalog.db import open_catalog
    from gapfill.jobs.daemon import Daemon, DaemonOptions

    settings = load_settings()
    if not settings.recordings_dirs:
        raise UserError("recordings_dirs is empty: set GAPFILL_RECORDINGS_DIRS or gapfill.toml")
    workers = settings.workers if workers is None else workers
    # Before the scheduler can queue a job: a daemon without keys or model would otherwise queue
    # repairs that all die. With --workers 0 it only schedules; the workers check for themselves.
    preflight.require(settings, preflight.CHECK_NAMES if workers else ("catalog", "source"))
    options = DaemonOptions(
        workers=workers,
        repair_now=repair_now,
        settle_seconds=settle_seconds,
        abandon_seconds=abandon_seconds,
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
        metrics_host=settings.metrics_host if metrics_host is None else metrics_host,
    )
    with open_catalog(settings) as catalog:
        Daemon(catalog, settings, options).run()


def worker(
    repair_now: RepairNow = False,
    lease_seconds: Lease = 600.0,
    poll_seconds: Poll = 5.0,
    max_jobs: Annotated[
        int | None, typer.Option(min=1, help="Exit after this many jobs (batch runs).")
    ] = None,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics",
            help="Serve /healthz and /metrics on metrics_host:metrics_port.",
        ),
    ] = False,
    metrics_host: MetricsHost = None,
) -> None:
    """One repair worker in this process, for scale-out: run it on more hosts against the same
    PostgreSQL. Claims jobs in the repair window; SIGTERM finishes or releases the current job.
    Like `gapfill repair`, it first finishes clips a crash left unpublished (then every 5 min)."""
    from gapfill.catalog.db import open_catalog
    from gapfill.jobs.metrics import DaemonMetrics, serve
    from gapfill.jobs.worker import Worker, WorkerOptions, install_signal_handlers

    settings = load_settings()
    # before any claim: a job must not die of the set-up
    preflight.require(settings, preflight.REPAIR_CHECKS)
    with open_catalog(settings) as catalog:
        registry = DaemonMetrics(catalog)
        options = WorkerOptions(
            lease_seconds=lease_seconds,
            poll_seconds=poll_seconds,
            repair_now=repair_now,
            max_jobs=max_jobs,
        )
        runner = Worker(
            catalog,
            settings,
            options,
            on_outcome=lambda o: registry.observe_repair(o.outcome, o.seconds),
        )
        server = None
        if metrics and settings.metrics_port:
            try:
                server = serve(
                    registry,
                    settings.metrics_port,
                    lambda: (not runner.stop.is_set(), {"worker": runner.identity}),
                    settings.metrics_host if metrics_host is None else metrics_host,
                )
            except OSError as exc:
                raise UserError(
                    f"metrics {metrics_host or settings.metrics_host}:{settings.metrics_port}: "
                    f"cannot listen: {exc.strerror}"
                ) from None
        install_signal_handlers(runner, settings.shutdown_grace_seconds)
        try:
            runner.run()
        finally:
            if server is not None:
                server.shutdown()
