"""The `gapfill` command.

Exit codes: 0 ok, 1 user error (bad input, one line on stderr naming the file and the problem),
2 internal error (a bug: one line on stderr, the traceback in the log). No traceback reaches a
user who made a mistake.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from exporters import commands as export_commands
from gapfill import demo, doctor, logs
from gapfill.api import commands as api_commands
from gapfill.catalog.db import open_catalog, upgrade
from gapfill.catalog.models import RECORDING_STATUSES
from gapfill.catalog.queries.cameras import camera_recording_stats, option_camera_id
from gapfill.catalog.queries.recordings import RecordingFilter, newest_recordings
from gapfill.config import Settings, load_settings
from gapfill.console import as_rows, emit, emit_object, err, progress, warn
from gapfill.detect import commands as detect_commands
from gapfill.errors import UserError
from gapfill.fill import commands as fill_commands
from gapfill.jobs import commands as jobs_commands
from gapfill.provenance import commands as provenance_commands
from gapfill.repair import commands as repair_commands
from gapfill.report import commands as report_commands
from gapfill.synth import commands as synth_commands
from gapfill.text import is_utf8
from gapfill.times import parse_time
from gapfill.training import commands as training_commands

app = typer.Typer(
    help="gapfill: finds dropped and damaged spans in equipment-camera recordings and fills them "
    "with flagged, auditable reconstructions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
# More rows than this is a typing mistake, not a listing: the table is built in memory. The cap
# also keeps the number inside what the database drivers can bind (SQLite overflows past 2**63).
MAX_ROWS = 1_000_000


@app.callback()
def _global_options(
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML configuration file (default: ./gapfill.toml).",
            envvar="GAPFILL_CONFIG_FILE",
        ),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING (default), ERROR.")
    ] = None,
) -> None:
    if config_file is not None:
        if not config_file.is_file():
            raise UserError(f"{config_file}: configuration file not found")
        os.environ["GAPFILL_CONFIG_FILE"] = str(config_file)
    settings = load_settings()
    level = (log_level or settings.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise UserError(f"--log-level: {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    logs.configure(level, settings.log_json)


@app.command()
def init() -> None:
    """Create the catalog database, or upgrade it to this version's schema (Alembic)."""
    settings = load_settings()
    before, after = upgrade(settings.effective_database_url)
    with open_catalog(settings) as catalog:
        where = catalog.display_url
    if before == after:
        err.print(f"catalog {where} is up to date (schema {after})", highlight=False)
    else:
        err.print(f"catalog {where}: schema {before or 'empty'} -> {after}", highlight=False)


@config_app.command("show")
def config_show(as_json: JsonFlag = False) -> None:
    """Print the effective configuration (all sources merged), with secrets hidden."""
    emit_object(load_settings().redacted(), as_json)


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="Root of a recordings tree.")],
    camera: Annotated[
        str | None, typer.Option(help="Camera name for every file (default: from the layout).")
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="frigate: <root>/<YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4; "
            "flat: <root>/<camera>/<file with a time in its name>; "
            "frigate-db: Frigate's folders as its database lists them "
            "(default: settings.recordings_layout)."
        ),
    ] = None,
    frigate_db: Annotated[
        Path | None,
        typer.Option(
            "--frigate-db",
            help="Frigate's frigate.db (read-only): catalogue the segments its recordings table "
            "lists, with Frigate's ids, and the gaps between them (implies --layout frigate-db).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Catalogue every recording under PATH (probe, sha256). Running it again adds nothing."""
    from gapfill.ingest import check_camera_name, recordings_root
    from gapfill.ingest import ingest as run_ingest

    settings = load_settings()
    if frigate_db is not None and layout not in (None, "frigate-db"):
        raise UserError(f"--frigate-db: not with --layout {layout} (Frigate's is frigate-db)")
    layout = "frigate-db" if frigate_db is not None else (layout or settings.recordings_layout)
    if layout not in ("frigate", "flat", "frigate-db"):
        raise UserError(f"--layout: {layout!r} is not one of frigate, flat, frigate-db")
    root = recordings_root(path)
    if layout == "frigate-db":
        frigate_db = frigate_db or settings.frigate_db
        if frigate_db is None:
            raise UserError("--layout frigate-db: name Frigate's database with --frigate-db FILE")
        if camera is not None:
            raise UserError("--camera: not with Frigate's database, whose rows name the camera")
        _ingest_frigate(settings, root, frigate_db, as_json)
        return
    if camera is not None:
        check_camera_name(camera)
    with (
        open_catalog(settings) as catalog,
        progress("ingest", total=None, enabled=not as_json) as bar,
    ):
        report = run_ingest(catalog, root, layout, camera, progress=lambda _p: bar.advance())  # type: ignore[arg-type]
    _report_ingest(report, {}, as_json)


def _ingest_frigate(settings: Settings, root: Path, database: Path, as_json: bool) -> None:
    from gapfill.catalog.frigate_db import read_recordings
    from gapfill.frigate_ingest import ingest_frigate

    rows = read_recordings(database)  # a bad database is refused before the progress bar shows
    with (
        open_catalog(settings) as catalog,
        progress("ingest", total=None, enabled=not as_json) as bar,
    ):
        report = ingest_frigate(
            catalog, root, rows, settings.detect, progress=lambda _p: bar.advance()
        )
    for file, frigate_id in report.files_missing:
        warn(file, f"gone: Frigate lists it (row {frigate_id}); its time is a gap")
    for file in report.added_without_row:
        warn(file, "catalogued, but Frigate's database has no row for it")
    extra: dict[str, object] = dict(report.summary())
    if as_json:
        extra["gap_list"] = report.gaps
    _report_ingest(report.ingest, extra, as_json)


def _report_ingest(report: Any, extra: dict[str, object], as_json: bool) -> None:
    for severity, file, reason in report.problems():
        warn(file, f"{severity}: {reason}")
    summary = {
        "added": len(report.added),
        "unchanged": report.unchanged,
        "unreadable": len(report.unreadable),
        "skipped": len(report.skipped),
        "changed_originals": len(report.changed_originals),
        **extra,
        "problems": [{"severity": s, "path": p, "reason": r} for s, p, r in report.problems()],
    }
    emit_object(
        summary if as_json else {k: v for k, v in summary.items() if k != "problems"}, as_json
    )


@app.command()
def cameras(as_json: JsonFlag = False) -> None:
    """List cameras with their recordings count and time range."""
    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        stats = camera_recording_stats(session)
        rows = [
            {
                "name": cam.name,
                "nominal_fps": cam.nominal_fps,
                "cadence_fps": cam.cadence_fps,
                "size": f"{cam.width}x{cam.height}" if cam.width else None,
                "recordings": count,
                "first": first,
                "last": last,
                "source_dir": cam.source_dir,
            }
            for cam, count, first, last in stats
        ]
    emit(
        rows,
        ["name", "nominal_fps", "size", "recordings", "first", "last"],
        as_json,
        title="cameras",
    )


@app.command()
def recordings(
    camera: Annotated[str | None, typer.Option(help="Only this camera.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, damaged or unreadable.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Start at or after (ISO 8601 or 6h, 2d).")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_ROWS,
            help="List the most recent N recordings that match (printed oldest first).",
        ),
    ] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """List catalogued recordings in time order: the most recent --limit of them."""
    if status is not None and status not in RECORDING_STATUSES:
        raise UserError(f"--status: {status!r} is not one of {', '.join(RECORDING_STATUSES)}")
    # An operator asking for N wants the latest N: pick them newest first, then print them in
    # time order like every other listing (reversed below).
    since_time = parse_time(since, "--since") if since is not None else None
    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        camera_id = option_camera_id(session, camera)
        where = RecordingFilter(camera_id=camera_id, status=status, since=since_time)
        fields = [
            "id",
            "path",
            "start_time",
            "end_time",
            "duration_s",
            "frame_count",
            "fps",
            "codec",
            "width",
            "height",
            "size_bytes",
            "sha256",
            "status",
            "status_reason",
            "scanned_at",
        ]
        rows = []
        newest_first = newest_recordings(session, where, limit)
        for recording, camera_name in reversed(newest_first):
            row = as_rows([recording], fields)[0]
            row["camera"] = camera_name
            rows.append(row)
    emit(
        rows,
        ["id", "camera", "start_time", "duration_s", "frame_count", "status", "path"],
        as_json,
        title="recordings",
    )


# Commands that live beside the code they drive; each module imports its heavy parts lazily so
# that `gapfill --help` stays fast.
app.command("synth")(synth_commands.synth)
app.command("scan")(detect_commands.scan)
app.command("defects")(detect_commands.defects)
app.command("train")(training_commands.train)
app.command("fill")(fill_commands.fill)
app.command("verify")(provenance_commands.verify)
app.command("audit")(provenance_commands.audit)
keys_app = typer.Typer(help="Site signing keys for Content Credentials.", no_args_is_help=True)
keys_app.command("init")(provenance_commands.keys_init)
keys_app.command("rotate")(provenance_commands.keys_rotate)
app.add_typer(keys_app, name="keys")
# -- commands added by later capabilities: one line each below this marker --
app.command("daemon")(jobs_commands.daemon)
app.command("worker")(jobs_commands.worker)
app.command("schedule")(jobs_commands.schedule)
app.add_typer(jobs_commands.jobs_app, name="jobs")
app.command("serve")(api_commands.serve)
app.add_typer(api_commands.users_app, name="users")
app.add_typer(export_commands.export_app, name="export")
app.command("repair")(repair_commands.repair)
app.command("demo")(demo.demo)
app.command("report")(report_commands.report)
app.command("doctor")(doctor.doctor)


def _refuse_undecodable(args: list[str]) -> None:
    """Refuse an argument that is not UTF-8, for every command at once.

    Python hands such bytes over as lone surrogates, which pass for text until the catalog, a
    log line or a JSON file has to encode them, deep inside whichever command got them."""
    for arg in args:
        if not is_utf8(arg):
            try:  # the bytes as typed, b'\xff.mp4', rather than Python's '\udcff.mp4'
                shown = repr(os.fsencode(arg))
            except UnicodeEncodeError:
                shown = repr(arg)
            raise UserError(
                f"argument {shown}: not valid UTF-8 (gapfill takes UTF-8 names and values)"
            )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: maps errors to exit codes and one-line messages."""
    try:
        args = sys.argv[1:] if argv is None else argv
        _refuse_undecodable(args)
        result = app(args=args, prog_name="gapfill", standalone_mode=False)
    except UserError as exc:
        # A refused start (preflight) names every problem at once: one line each.
        for line in getattr(exc, "lines", None) or [str(exc)]:
            err.print(f"error: {line}", highlight=False, markup=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", highlight=False)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: a bad option is the user's mistake
        if type(exc).__name__ == "NoArgsIsHelpError":
            # A bare group (`gapfill config`) asks what it offers, as --help does: the help on
            # stdout, exit 0. Matched by name, as typer itself does: the class lives in typer's
            # private copy of click.
            typer.echo(exc.format_message())
            sys.exit(0)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err.print(f"error: {message}", highlight=False, markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)
    except Exception as exc:  # a bug in gapfill: one line for the user, the trace in the log
        logging.getLogger("gapfill").exception("internal error")
        err.print(f"internal error: {type(exc).__name__}: {exc}", highlight=False, markup=False)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
