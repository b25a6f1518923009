"""Gather the figures from the catalog and write the report folder: index.html, figures.csv and
the PNG plots beside them.

The folder is built under a hidden temporary name next to its final one and renamed into place
only when every file is written, so a crash or an error leaves no half report under the final
name. A previous report in that folder is replaced; any other non-empty folder is refused.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries import report as queries
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.report import figures as calc
from gapfill.report.figures import Figures, ModelQuality
from gapfill.report.quality import QualityFileError, read_quality

HTML_NAME = "index.html"
CSV_NAME = "figures.csv"
# Marks a folder as a report, so writing a new one may replace it and nothing else is ever lost.
MARKER = ".gapfill-report"


def gather(catalog: Catalog, settings: Settings, window: queries.Window) -> Figures:
    """Every figure of the report for `window`, read in one transaction."""
    with catalog.session() as session:
        queries.check_camera(session, window)
        cameras = queries.camera_names(session, window)
        defects = queries.defect_rows(session, window)
        spans = queries.span_rows(session, window)
        clips = queries.clip_rows(session, window)
        used = {c.model_id for c in clips if c.model_id is not None}
        models = [(m.name, Path(m.path)) for m in queries.model_rows(session, used)]
    if not models:  # nothing repaired in the window: report on the model repairs would use
        models = [_configured_model(settings)]
    return Figures(
        window=window,
        generated_at=dt.datetime.now(dt.UTC),
        cameras=cameras,
        footage=calc.footage(window, defects, spans),
        defects_by_kind=calc.defects_by_kind(window, defects),
        reviews=calc.reviews(clips),
        turnaround=calc.turnaround(clips),
        compute=calc.compute(clips),
        quality=[model_quality(name, folder) for name, folder in models],
    )


def _configured_model(settings: Settings) -> tuple[str, Path]:
    # Same naming as gapfill.checkpoint_registry.register_model, without importing torch for it.
    from gapfill.network.config import default_checkpoint_dir

    default = default_checkpoint_dir()
    folder = settings.model_path or default
    return ("malt-default" if folder.resolve() == default.resolve() else folder.name), folder


def model_quality(name: str, folder: Path) -> ModelQuality:
    """The quality figures of a model, or a sentence saying why there are none."""
    try:
        rows = read_quality(folder)
    except QualityFileError as exc:
        return ModelQuality(name, str(folder), None, f"no quality figures for model {name}: {exc}")
    if not rows:
        problem = f"no quality figures for model {name} (no {folder}/quality.json)"
        return ModelQuality(name, str(folder), None, problem)
    return ModelQuality(name, str(folder), rows)


def draw(figures: Figures, folder: Path) -> dict[str, Any]:
    """Write the plots that have data into `folder`; file names by figure (None: no plot)."""
    from gapfill.report import plots

    images: dict[str, Any] = dict.fromkeys(("footage", "kinds", "reviews", "turnaround", "compute"))
    if figures.footage:
        images["footage"] = plots.footage_plot(figures.footage, folder / "footage.png").name
    if figures.defects_by_kind:
        images["kinds"] = plots.kinds_plot(figures.defects_by_kind, folder / "defects.png").name
    if figures.reviews:
        images["reviews"] = plots.reviews_plot(figures.reviews, folder / "reviews.png").name
    if figures.turnaround:
        images["turnaround"] = plots.turnaround_plot(
            figures.turnaround, folder / "turnaround.png"
        ).name
    if any(c.wall_per_synthetic_s is not None for c in figures.compute):
        images["compute"] = plots.compute_plot(figures.compute, folder / "compute.png").name
    images["quality"] = [
        plots.quality_plot(model, folder / f"quality-{index + 1}.png").name if model.rows else None
        for index, model in enumerate(figures.quality)
    ]
    return images


def write_report(figures: Figures, out: Path) -> Path:
    """Write the report folder `out` atomically (see the module docstring). Returns its path."""
    from gapfill.report.csvfile import write_csv
    from gapfill.report.render import write_html

    out = out.expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"--out {out}: not empty and not a gapfill report folder; choose another")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there: {exc.strerror or exc}") from None
    try:
        (building / MARKER).write_text("made by `gapfill report`; safe to delete\n")
        images = draw(figures, building)
        write_csv(figures, building / CSV_NAME)
        write_html(figures, images, CSV_NAME, building / HTML_NAME)
        os.chmod(building, 0o755)  # mkdtemp makes it private; a report is meant to be shared
        _swap_in(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return out


def _swap_in(building: Path, out: Path) -> None:
    """Put the finished folder under its final name; an old report is moved aside first (a
    folder cannot be renamed over a non-empty one) and deleted after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(building, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)  # put the previous report back rather than leave nothing
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
