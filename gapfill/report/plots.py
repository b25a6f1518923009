"""The report's PNG plots, drawn with matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects rather than through pyplot: no display,
no global figure registry to leak between reports, safe in the daemon or a test process.
Each function writes one PNG and is only called when its figure has data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gapfill.catalog.models import DEFECT_KINDS
from gapfill.report.figures import ComputeRow, FootageRow, ModelQuality, TurnaroundRow

DPI = 100
KIND_COLOURS = dict(zip(DEFECT_KINDS, ("#4c72b0", "#dd8452", "#55a868", "#222222", "#8ccf4d",
                                        "#8172b3", "#c44e52"), strict=True))  # fmt: skip
REVIEW_COLOURS = {"approved": "#55a868", "rejected": "#c44e52", "pending": "#bbbbbb"}


def _unit(seconds: float) -> tuple[float, str]:
    """A divisor and unit name that keep axis numbers readable."""
    if seconds >= 2 * 3600:
        return 3600.0, "hours"
    if seconds >= 120:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _day_axis(ax: Axes, days: list[dt.date]) -> None:
    # Fixed margins: one day's bars would otherwise be stretched across the whole plot.
    ax.set_xticks(range(len(days)), [d.isoformat() for d in days])
    ax.set_xlim(-0.8, len(days) - 0.2)
    if len(days) > 10:
        ax.tick_params(axis="x", labelrotation=60)


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return path


def footage_plot(rows: list[FootageRow], path: Path) -> Path:
    """Per camera: footage lost, recovered and unrepairable per day."""
    cameras = sorted({r.camera for r in rows})
    days = sorted({r.day for r in rows})
    divisor, unit = _unit(max(r.lost_s for r in rows))
    figure = Figure(figsize=(max(6.0, 1.2 * len(days) + 3), 2.6 * len(cameras) + 0.6))
    axes = figure.subplots(len(cameras), 1, squeeze=False)[:, 0]
    series = (("lost_s", "lost", "#c44e52"), ("recovered_s", "recovered (synthetic)", "#4c72b0"),
              ("unrepairable_s", "unrepairable", "#222222"))  # fmt: skip
    width = 0.8 / len(series)
    for ax, camera in zip(axes, cameras, strict=True):
        mine = {r.day: r for r in rows if r.camera == camera}
        for i, (name, label, colour) in enumerate(series):
            values = [getattr(mine[d], name) / divisor if d in mine else 0.0 for d in days]
            xs = [x + (i - 1) * width for x in range(len(days))]
            ax.bar(xs, values, width, label=label, color=colour)
            if name == "recovered_s":  # a rejected reconstruction is not really footage back
                rejected = [mine[d].rejected_s / divisor if d in mine else 0.0 for d in days]
                ax.bar(xs, rejected, width, label="of which rejected", color=colour,
                       hatch="//", edgecolor="white")  # fmt: skip
        ax.set_title(camera)
        ax.set_ylabel(f"footage, {unit}")
        _day_axis(ax, days)
    axes[0].legend(loc="upper right", fontsize="small")
    return _save(figure, path)


def kinds_plot(counts: dict[tuple[str, dt.date, str], int], path: Path) -> Path:
    """Defects per day (all cameras in the report), stacked by kind."""
    days = sorted({day for _camera, day, _kind in counts})
    figure = Figure(figsize=(max(6.0, 0.9 * len(days) + 3), 3.6))
    ax = figure.subplots()
    bottom = [0] * len(days)
    for kind in DEFECT_KINDS:
        values = [
            sum(n for (_c, d, k), n in counts.items() if d == day and k == kind) for day in days
        ]
        if any(values):
            ax.bar(range(len(days)), values, 0.6, bottom=bottom, label=kind,
                   color=KIND_COLOURS[kind])  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _day_axis(ax, days)
    ax.set_ylabel("defects")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _save(figure, path)


def reviews_plot(reviews: dict[str, dict[str, int]], path: Path) -> Path:
    """Per camera: repairs approved, rejected and awaiting review."""
    cameras = list(reviews)
    figure = Figure(figsize=(7.0, 0.5 * len(cameras) + 1.4))
    ax = figure.subplots()
    left = [0] * len(cameras)
    for state, colour in REVIEW_COLOURS.items():
        values = [reviews[c].get(state, 0) for c in cameras]
        label = "awaiting review" if state == "pending" else state
        ax.barh(range(len(cameras)), values, 0.6, left=left, label=label, color=colour)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(range(len(cameras)), cameras)
    ax.set_xlabel("repairs (synthetic clips)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _save(figure, path)


def turnaround_plot(rows: list[TurnaroundRow], path: Path) -> Path:
    """Per camera: median and 90th percentile time from clip creation to review decision."""
    divisor, unit = _unit(max(r.p90_s for r in rows))
    figure = Figure(figsize=(max(6.0, 0.9 * len(rows) + 3), 3.4))
    ax = figure.subplots()
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r.median_s / divisor for r in rows], 0.4, label="median",
           color="#4c72b0")  # fmt: skip
    ax.bar([x + 0.2 for x in xs], [r.p90_s / divisor for r in rows], 0.4, label="90th percentile",
           color="#dd8452")  # fmt: skip
    ax.set_xticks(list(xs), [r.camera for r in rows])
    ax.set_ylabel(f"review turnaround, {unit}")
    ax.legend(fontsize="small")
    return _save(figure, path)


def compute_plot(rows: list[ComputeRow], path: Path) -> Path:
    """Per camera: repair wall seconds per second of footage synthesized, and beside it the
    model fill's share (no bar where no clip measured its fill)."""
    timed = [r for r in rows if r.wall_per_synthetic_s is not None]
    xs = range(len(timed))
    figure = Figure(figsize=(max(6.0, 0.9 * len(timed) + 3), 3.2))
    ax = figure.subplots()
    ax.bar([x - 0.2 for x in xs], [r.wall_per_synthetic_s for r in timed], 0.4, label="repair",
           color="#8172b3")  # fmt: skip
    ax.bar([x + 0.2 for x in xs], [r.fill_per_synthetic_s or 0.0 for r in timed], 0.4,
           label="model fill", color="#64b5cd")  # fmt: skip
    ax.set_xticks(list(xs), [r.camera for r in timed])
    ax.set_ylabel("seconds per\nsecond synthesized")
    ax.legend(fontsize="small")
    return _save(figure, path)


def quality_plot(model: ModelQuality, path: Path) -> Path:
    """PSNR by span length for MALT and each baseline, real and synthetic footage side by side."""
    assert model.rows
    sources = sorted({r.source for r in model.rows})
    figure = Figure(figsize=(5.2 * len(sources), 3.6))
    axes = figure.subplots(1, len(sources), squeeze=False)[0]
    for ax, source in zip(axes, sources, strict=True):
        mine = [r for r in model.rows if r.source == source]
        for filler in dict.fromkeys(r.filler for r in mine):
            points = sorted((r.span_frames, r.psnr) for r in mine if r.filler == filler)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=filler,
                    linewidth=2.5 if filler == "malt" else 1.0)  # fmt: skip
        ax.set_xscale("log", base=2)
        spans = sorted({r.span_frames for r in mine})
        ax.set_xticks(spans, [str(n) for n in spans])
        ax.minorticks_off()
        ax.set_title(f"{model.name}: {source} footage")
        ax.set_xlabel("span filled, frames")
        ax.set_ylabel("PSNR, dB (higher is better)")
        ax.legend(fontsize="x-small")
    return _save(figure, path)
