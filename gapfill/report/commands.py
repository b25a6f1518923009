"""`gapfill report`: the pilot's figures for a plant manager, as a folder to open or pass on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gapfill.config import load_settings
from gapfill.errors import UserError
from gapfill.times import parse_time


def report(
    since: Annotated[
        str | None,
        typer.Option(help="Footage from this time (ISO 8601, or an age like 7d). Default: all."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Footage before this time (ISO 8601 or an age). Default: now."),
    ] = None,
    camera: Annotated[str | None, typer.Option(help="Only this camera.")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write (a previous report there is replaced).")
    ] = Path("gapfill-report"),
) -> None:
    """Write the pilot report: an HTML page with PNG plots and a CSV of the same figures.

    Figures, per camera and UTC day of footage: seconds lost in defects and recovered by
    synthetic spans (unrepairable apart); defects by kind; repairs approved, rejected and
    awaiting review; review turnaround (median, 90th percentile); repair compute time per second
    synthesized, and the model fill's share of it (as each repair measured itself); and the
    model's quality figures from the quality.json in its checkpoint folder. Prints the path of
    the page.
    """
    from gapfill.catalog.db import open_catalog
    from gapfill.catalog.queries.report import Window
    from gapfill.report.build import HTML_NAME, gather, write_report

    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    if start is not None and end is not None and end <= start:
        raise UserError(f"--until: {until!r} is not after --since {since!r}")
    settings = load_settings()
    with open_catalog(settings) as catalog:
        figures = gather(catalog, settings, Window(start, end, camera))
    folder = write_report(figures, out)
    print(folder / HTML_NAME)
