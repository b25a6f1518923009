"""The report's HTML page: one self-contained file (inline CSS, no script, nothing fetched from a
network) that shows the PNGs written beside it by their relative names, so the folder can be
zipped, mailed or opened from a share as it is.

Jinja2 (already a dependency of the review UI) with autoescaping on: camera and model names come
from the catalog and must not become markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from gapfill.report.figures import Figures

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>gapfill pilot report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}
.nodata{background:#fff6d6;padding:.6em 1em;border-left:4px solid #e0b000}
</style></head><body>
<h1>gapfill pilot report</h1>
<p>Footage {{ window_text }}; cameras: {{ cameras|join(", ") if cameras else "none" }}.
Generated {{ generated }} UTC. All figures also in <a href="{{ csv_name }}">{{ csv_name }}</a>.</p>
{% if not has_data %}
<p class="nodata">No data: the catalog holds no defects or repairs for this period and camera.</p>
{% endif %}

<h2>Footage lost and recovered</h2>
{% if footage %}
<img src="{{ images.footage }}" alt="footage lost and recovered per camera and day">
<table><tr><th>camera</th><th>day (UTC)</th><th>lost</th><th>recovered</th>
<th>of which rejected</th><th>unrepairable</th><th>not yet repaired</th><th>ignored</th></tr>
{% for r in footage %}<tr><td>{{ r.camera }}</td><td>{{ r.day }}</td><td>{{ dur(r.lost_s) }}</td>
<td>{{ dur(r.recovered_s) }}</td><td>{{ dur(r.rejected_s) }}</td>
<td>{{ dur(r.unrepairable_s) }}</td>
<td>{{ dur(r.open_s) }}</td><td>{{ dur(r.ignored_s) }}</td></tr>
{% endfor %}</table>
<p class="note">Lost: footage inside defects (missing or damaged), every state. Recovered: footage
covered by synthetic frames of repaired defects (flagged SYNTHETIC, never presented as real).
Unrepairable: too little real footage around the hole, or longer than the configured limit.</p>
{% else %}<p>No defects in this period.</p>{% endif %}

<h2>Defects by kind</h2>
{% if kinds %}
<img src="{{ images.kinds }}" alt="defects per day by kind">
<table><tr><th>camera</th><th>day (UTC)</th>
{% for k in kind_names %}<th>{{ k }}</th>{% endfor %}</tr>
{% for (camera, day), counts in kinds.items() %}<tr><td>{{ camera }}</td><td>{{ day }}</td>
{% for k in kind_names %}<td>{{ counts.get(k, 0) }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% else %}<p>No defects in this period.</p>{% endif %}

<h2>Repairs reviewed</h2>
{% if reviews %}
<img src="{{ images.reviews }}" alt="repairs approved, rejected, awaiting review">
<table><tr><th>camera</th><th>approved</th><th>rejected</th><th>awaiting review</th></tr>
{% for camera, c in reviews.items() %}<tr><td>{{ camera }}</td><td>{{ c.approved }}</td>
<td>{{ c.rejected }}</td><td>{{ c.pending }}</td></tr>
{% endfor %}</table>
{% else %}<p>No repairs in this period.</p>{% endif %}

<h2>Review turnaround</h2>
{% if turnaround %}
<img src="{{ images.turnaround }}" alt="review turnaround per camera">
<table><tr><th>camera</th><th>reviewed</th><th>median</th><th>90th percentile</th></tr>
{% for t in turnaround %}<tr><td>{{ t.camera }}</td><td>{{ t.reviewed }}</td>
<td>{{ dur(t.median_s) }}</td><td>{{ dur(t.p90_s) }}</td></tr>
{% endfor %}</table>
<p class="note">From the clip's creation to its first approve or reject (provenance chain).</p>
{% else %}<p>No repair has been approved or rejected yet.</p>{% endif %}

<h2>Compute time per second of footage</h2>
{% if compute %}
{% if images.compute %}
<img src="{{ images.compute }}" alt="repair seconds per second synthesized">
{% endif %}
<table><tr><th>camera</th><th>timed repairs</th><th>untimed repairs</th><th>repair wall time</th>
<th>footage they synthesized</th><th>seconds per second</th><th>of which model fill</th>
<th>fill seconds per second</th></tr>
{% for c in compute %}<tr><td>{{ c.camera }}</td><td>{{ c.timed_clips }}</td>
<td>{{ c.untimed_clips }}</td><td>{{ dur(c.wall_s) }}</td><td>{{ dur(c.synthetic_s) }}</td>
<td>{{ ratio(c.wall_per_synthetic_s) }}</td><td>{{ dur(c.fill_s) }}</td>
<td>{{ ratio(c.fill_per_synthetic_s) }}</td></tr>
{% endfor %}</table>
<p class="note">Every repair measures itself: its wall time (plan, read, fill, compose, encode,
sign, record) and the model's share of it, the fill. Clips made before gapfill recorded this
fall back to their repair queue job's time, first claim to completion, and have no fill time; the
rest of them, made by <code>gapfill repair</code> or the demo, or by a retried job (whose time
includes backoff waits), are counted as untimed.</p>
{% else %}<p>No repairs in this period.</p>{% endif %}

<h2>Model quality</h2>
{% for m in quality %}
<h3>{{ m.name }}</h3>
{% if m.rows %}
<img src="{{ images.quality[loop.index0] }}" alt="fill quality of {{ m.name }}">
<table><tr><th>footage</th><th>span, frames</th><th>MALT PSNR dB</th><th>MALT SSIM</th>
<th>MALT sharpness</th><th>best baseline PSNR dB</th></tr>
{% for s in summaries[loop.index0] %}<tr><td>{{ s.source }}</td><td>{{ s.span }}</td>
<td>{{ s.malt_psnr }}</td><td>{{ s.malt_ssim }}</td><td>{{ s.malt_sharpness }}</td>
<td>{{ s.best }}</td></tr>
{% endfor %}</table>
<p class="note">From {{ m.folder }}/quality.json (benchmarks/fill_quality.py): spans cut out of
footage the model never trained on, filled, compared with what was cut. Sharpness 1 is as sharp
as the real footage.</p>
{% else %}<p>{{ m.problem }}</p>{% endif %}
{% else %}<p>No model to report on.</p>{% endfor %}
</body></html>
"""


def duration_text(seconds: float) -> str:
    """Seconds as people read them: 12.3 s, 4.5 min, 2.1 h."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def window_text(figures: Figures) -> str:
    window = figures.window
    since = window.since.isoformat() if window.since else "the beginning"
    until = window.until.isoformat() if window.until else "now"
    return f"from {since} to {until}"


def _quality_summary(figures: Figures) -> list[list[dict[str, Any]]]:
    """Per model: MALT and the best baseline by PSNR, per source and span (like the model card)."""
    summaries = []
    for model in figures.quality:
        lines = []
        keys = sorted({(r.source, r.span_frames) for r in model.rows or ()})
        for source, span in keys:
            rows = [r for r in model.rows or () if (r.source, r.span_frames) == (source, span)]
            malt = next((r for r in rows if r.filler == "malt"), None)
            others = [r for r in rows if not r.filler.startswith("malt")]  # MALT unchecked too
            best = max(others, key=lambda r: r.psnr, default=None)
            lines.append({
                "source": source,
                "span": span,
                "malt_psnr": f"{malt.psnr:.2f}" if malt else "-",
                "malt_ssim": f"{malt.ssim:.3f}" if malt else "-",
                "malt_sharpness": f"{malt.sharpness:.2f}" if malt else "-",
                "best": f"{best.psnr:.2f} ({best.filler})" if best else "-",
            })  # fmt: skip
        summaries.append(lines)
    return summaries


def render_html(figures: Figures, images: dict[str, Any], csv_name: str) -> str:
    """The page; `images` maps footage/kinds/reviews/turnaround/compute to a file name (or None)
    and quality to a list of file names, one per model (None where it has no figures)."""
    from gapfill.catalog.models import DEFECT_KINDS

    kinds: dict[tuple[str, str], dict[str, int]] = {}
    for (camera, day, kind), count in figures.defects_by_kind.items():
        kinds.setdefault((camera, day.isoformat()), {})[kind] = count
    present = {kind for (_c, _d, kind) in figures.defects_by_kind}
    environment = Environment(autoescape=True, undefined=StrictUndefined)
    return environment.from_string(TEMPLATE).render(
        window_text=window_text(figures),
        cameras=figures.cameras,
        generated=figures.generated_at.strftime("%Y-%m-%d %H:%M"),
        csv_name=csv_name,
        has_data=figures.has_data,
        footage=figures.footage,
        kinds=kinds,
        kind_names=[k for k in DEFECT_KINDS if k in present],
        reviews=figures.reviews,
        turnaround=figures.turnaround,
        compute=figures.compute,
        quality=figures.quality,
        summaries=_quality_summary(figures),
        images=images,
        dur=duration_text,
        ratio=lambda value: "n/a" if value is None else f"{value:.2f}",
    )


def write_html(figures: Figures, images: dict[str, Any], csv_name: str, path: Path) -> Path:
    path.write_text(render_html(figures, images, csv_name), encoding="utf-8")
    return path
