"""The `gapfill scan` and `gapfill defects` commands (registered in gapfill/cli.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from gapfill.catalog.db import open_catalog
from gapfill.catalog.models import DEFECT_KINDS, DEFECT_STATES
from gapfill.config import load_settings
from gapfill.console import emit, emit_object, warn
from gapfill.errors import UserError
from gapfill.times import parse_time


def scan(
    camera: Annotated[str | None, typer.Option(help="Only this camera.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only recordings starting at or after (ISO 8601 or 6h, 2d).")
    ] = None,
    rescan: Annotated[
        bool, typer.Option("--rescan", help="Scan again recordings already scanned.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Decoding processes (default 2).", min=1)] = 2,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Find missing and damaged spans in catalogued recordings and record them as defects.

    Scans recordings not scanned yet (all of them with --rescan); running it again does not
    duplicate defects. Unreadable files are marked unreadable with the reason; the scan goes on.
    """
    from gapfill.detect.scan import scan as run_scan

    settings = load_settings()
    since_time = parse_time(since, "--since") if since is not None else None
    with open_catalog(settings) as catalog:
        report = run_scan(
            catalog,
            settings,
            camera=camera,
            since=since_time,
            rescan=rescan,
            workers=workers,
            progress=not json_output,
        )
    summary = report.as_dict()
    if not json_output:
        for problem in summary.pop("problems"):
            warn(problem["path"], f"{problem['status']}: {problem['reason']}")
    emit_object(summary, json_output)


def defects(
    camera: Annotated[str | None, typer.Option(help="Only this camera.")] = None,
    kind: Annotated[str | None, typer.Option(help=f"One of: {', '.join(DEFECT_KINDS)}.")] = None,
    state: Annotated[str | None, typer.Option(help=f"One of: {', '.join(DEFECT_STATES)}.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List defects (missing or damaged spans) in time order."""
    from gapfill.detect.scan import list_defects

    if kind is not None and kind not in DEFECT_KINDS:
        raise UserError(f"--kind: {kind!r} is not one of {', '.join(DEFECT_KINDS)}")
    if state is not None and state not in DEFECT_STATES:
        raise UserError(f"--state: {state!r} is not one of {', '.join(DEFECT_STATES)}")
    with open_catalog(load_settings()) as catalog:
        rows = list_defects(catalog, camera=camera, kind=kind, state=state)
    if not json_output:
        for row in rows:
            row["reason"] = row["state_reason"]  # why ignored or unrepairable, e.g. too still
    emit(
        rows,
        [
            "id",
            "camera",
            "kind",
            "start_time",
            "seconds",
            "frame_start",
            "frame_end",
            "state",
            "activity",
            "detector",
            "path",
            "reason",
        ],
        json_output,
        title="defects",
    )
