"""Fill-quality benchmark: cut spans out of footage no filler trained on, fill them, compare.

For each source (real evaluation clips, held-out simulated cameras) and each span length n, spans
are cut at evenly spaced positions; each filler gets `--context` real frames before and after the
span and fills n frames; PSNR and SSIM (luma), sharpness ratio, seam jump and the PSNR inside the
mask of moving parts (where the truth leaves the context's median plate) are measured against the
cut frames at the source's resolution (gapfill/fill/metrics.py documents the formulas). One table
per source group and span length; mean over all cut positions (moving PSNR: over the cuts where
something moves).

    .venv/bin/python benchmarks/fill_quality.py                # default run (a few minutes)
    .venv/bin/python benchmarks/fill_quality.py --quick        # smoke run
    .venv/bin/python benchmarks/fill_quality.py --fillers hold,plate,malt --json out.json
    .venv/bin/python benchmarks/fill_quality.py --tune-plate   # choose PLATE_TAU on training data
    .venv/bin/python benchmarks/fill_quality.py --tune-sampling 1:1,1:1:3  # MALT's sampling, ditto
    .venv/bin/python benchmarks/fill_quality.py --quality-json gapfill/network/default/quality.json

Fillers: every baseline in gapfill.fill.fillers.BASELINES, `malt` (gapfill.fill.fill_gap.fill_gap,
skipped with a note when it cannot be imported or has no checkpoint), `malt-unchecked` (the same
with the model's change kept always, not only where it pays on the context), `guess` (MALT's
first guess alone), and `NAME@S` for a baseline
run at working size S (short side) and brought back with compose_to_source.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from gapfill.errors import GapfillError
from gapfill.fill import baselines
from gapfill.fill.compose import compose_to_source
from gapfill.fill.fillers import BASELINES
from gapfill.fill.first_guess import motion_guess
from gapfill.fill.metrics import context_plate, span_metrics
from gapfill.media.encode import atomic_write_bytes
from gapfill.media.frames import resize_frames
from gapfill.network.config import default_checkpoint_dir
from gapfill.report.quality import rows_from_summary, write_quality
from gapfill.training.clips import EVAL_CLIPS, TRAIN_CLIPS, load_clip

# Training draws simulated seeds from [100000, 1100000) (gapfill train --synth-seeds); these are
# far outside it, and outside the other benchmarks' held-out seeds (4242, 4243).
HELD_OUT_SEED_BASE = 2_000_000
PSNR_CAP_DB = 99.0  # an exact fill (inf dB) counts as this much in means
METRICS = ("psnr", "ssim", "sharpness", "seam_jump", "moving_psnr")
COLUMNS = ("PSNR dB", "SSIM", "sharpness", "seam jump", "moving PSNR")

console = Console(stderr=False)
log = Console(stderr=True)


@dataclass
class Source:
    name: str
    group: str  # "real" or "synth": tables never mix them
    frames: np.ndarray  # (T,H,W,3) uint8
    fps: float


# --- fillers ----------------------------------------------------------------------------------
Filler = Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]


def at_working_size(filler: Filler, short_side: int) -> Filler:
    """Run `filler` on context shrunk to `short_side`, compose its output back to full size."""

    def run(before: np.ndarray, after: np.ndarray, n: int, fps: float) -> np.ndarray:
        small_before = resize_frames(before, short_side) if len(before) else before
        small_after = resize_frames(after, short_side) if len(after) else after
        if not len(small_before):
            small_before = np.zeros((0, *small_after.shape[1:]), np.uint8)
        if not len(small_after):
            small_after = np.zeros((0, *small_before.shape[1:]), np.uint8)
        small = filler(small_before, small_after, n, fps)
        small_guess = baselines.FirstGuess(small_before, small_after, n)
        return compose_to_source(small, small_guess, baselines.FirstGuess(before, after, n))

    return run


def malt_filler(seed: int, model: Path | None = None, check_change: bool = True) -> Filler | str:
    """MALT's fill_gap with checkpoint `model` (None: the shipped one), or why it is unavailable.

    check_change False: the model's change kept always (`malt-unchecked`), what the model itself
    does; True (`malt`) is what a repair does (gapfill.fill.context_check)."""
    try:
        module = importlib.import_module("gapfill.fill.fill_gap")
    except ImportError as exc:
        return f"gapfill.fill.fill_gap not importable ({exc})"
    fill_gap = module.fill_gap

    def run(before: np.ndarray, after: np.ndarray, n: int, fps: float) -> np.ndarray:
        return fill_gap(before, after, n, fps, model=model, seed=seed, check_change=check_change)

    return run


def build_fillers(names: list[str], seed: int, model: Path | None = None) -> dict[str, Filler]:
    fillers: dict[str, Filler] = {}
    for name in names:
        base, _, size = name.partition("@")
        if base in ("malt", "malt-unchecked"):
            filler = malt_filler(seed, model, check_change=base == "malt")
            if isinstance(filler, str):
                log.print(f"[yellow]skipping {base}: {filler}[/yellow]")
                continue
        elif base == "guess":  # MALT's own first guess: what the learned part is judged against
            filler = motion_guess
        elif base in BASELINES:
            filler = BASELINES[base]
        else:
            sys.exit(f"error: --fillers: unknown filler {base!r}")
        fillers[name] = at_working_size(filler, int(size)) if size else filler
    return fillers


# --- sources and cut positions ----------------------------------------------------------------
def real_sources(names: list[str], max_side: int | None) -> list[Source]:
    sources = []
    for name in names:
        frames, fps = load_clip(name)
        height, width = frames.shape[1:3]
        if max_side and max(height, width) > max_side:
            frames = resize_frames(
                frames, round(min(height, width) * max_side / max(height, width))
            )
        sources.append(Source(name, "real", frames, fps))
    return sources


def synth_sources(seeds: list[int], length: int, width: int, height: int) -> list[Source]:
    try:
        from gapfill.synth.scene import Scene
    except ImportError as exc:
        log.print(f"[yellow]skipping simulated cameras: {exc}[/yellow]")
        return []
    fps = 10.0
    return [
        Source(f"synth:{seed}", "synth", Scene(seed, width, height, fps).render(0, length), fps)
        for seed in seeds
    ]


def cut_starts(total: int, span: int, context: int, count: int) -> list[int]:
    """`count` evenly spaced first frames of a span with `context` real frames on both sides."""
    low, high = context, total - context - span
    if high < low:
        return []
    return sorted({round(x) for x in np.linspace(low, high, count)})


# --- running and reporting --------------------------------------------------------------------
def evaluate(
    sources: list[Source],
    fillers: dict[str, Filler],
    spans: list[int],
    context: int,
    positions: int,
) -> list[dict]:
    cases = []
    for source in sources:
        for span in spans:
            starts = cut_starts(len(source.frames), span, context, positions)
            if not starts:
                log.print(f"{source.name}: too short for span {span} with context {context}")
            for start in starts:
                before = source.frames[start - context : start]
                truth = source.frames[start : start + span]
                after = source.frames[start + span : start + span + context]
                plate = context_plate(before, after)  # the moving-parts mask's reference
                for name, filler in list(fillers.items()):
                    began = time.perf_counter()
                    try:
                        fill = filler(before, after, span, source.fps)
                    except GapfillError as exc:
                        log.print(f"[yellow]dropping {name}: {exc}[/yellow]")
                        del fillers[name]
                        continue
                    seconds = time.perf_counter() - began
                    figures = span_metrics(before, fill, truth, after, plate)
                    cases.append(
                        {
                            "source": source.name,
                            "group": source.group,
                            "span": span,
                            "start": start,
                            "filler": name,
                            "seconds": seconds,
                            **{k: float(v) for k, v in figures.items()},
                        }
                    )
                log.print(f"{source.name} span {span} @ {start}: done", highlight=False)
    return cases


def _mean(values: list[float]) -> float:
    """Mean of the defined values (moving PSNR is NaN for a cut where nothing moves)."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def summarise(cases: list[dict]) -> dict:
    """Means per group -> span -> filler of every metric, and seconds per filled frame."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for case in cases:
        grouped[(case["group"], case["span"], case["filler"])].append(case)
    summary: dict = {}
    # Groups and spans in order, fillers in the order they ran.
    for (group, span, filler), rows in sorted(grouped.items(), key=lambda kv: kv[0][:2]):
        entry = {m: _mean([min(r[m], PSNR_CAP_DB) for r in rows]) for m in METRICS}
        entry["sec_per_frame"] = float(np.mean([r["seconds"] / span for r in rows]))
        entry["cases"] = len(rows)
        summary.setdefault(group, {}).setdefault(str(span), {})[filler] = entry
    return summary


def best_of(rows: dict[str, dict], metric: str) -> str:
    if metric in ("psnr", "ssim", "moving_psnr"):
        return max(
            rows, key=lambda f: -math.inf if math.isnan(rows[f][metric]) else rows[f][metric]
        )
    if metric == "sharpness":  # closest to the truth's sharpness, on a log scale
        return min(rows, key=lambda f: abs(math.log(max(rows[f][metric], 1e-9))))
    return min(rows, key=lambda f: rows[f][metric])  # seam jump: smallest


def print_tables(summary: dict, cases: list[dict], context: int) -> None:
    for group, by_span in summary.items():
        for span, rows in sorted(by_span.items(), key=lambda kv: int(kv[0])):
            chosen = [c for c in cases if c["group"] == group and c["span"] == int(span)]
            where = sorted({f"{c['source']}@{c['start']}" for c in chosen})
            table = Table(
                title=f"{group} footage, span {span} frames, context {context}+{context} frames, "
                f"{len(where)} cuts",
                caption="cuts: " + ", ".join(where),
            )
            for column in ("filler", *COLUMNS, "s/frame"):
                table.add_column(column, justify="left" if column == "filler" else "right")
            best = {m: best_of(rows, m) for m in METRICS}
            for filler, entry in rows.items():
                cells = [
                    f"{entry[m]:.{2 if 'psnr' in m else 3}f}" + ("*" if best[m] == filler else "")
                    for m in METRICS
                ]
                table.add_row(filler, *cells, f"{entry['sec_per_frame']:.3f}")
            console.print(table)
            ranked = sorted(rows, key=lambda f: -rows[f]["psnr"])
            margin = rows[ranked[0]]["psnr"] - rows[ranked[1]]["psnr"] if len(ranked) > 1 else 0
            console.print(
                f"best PSNR: {ranked[0]} (+{margin:.2f} dB over "
                f"{ranked[1] if len(ranked) > 1 else '-'})\n",
                highlight=False,
            )


def write_json(path: Path, payload: dict) -> None:
    """Write atomically: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode("utf-8"))


# --- tuning on training data only ------------------------------------------------------------
def training_sources(seed: int) -> list[Source]:
    """bikes.mp4's shots and three simulated cameras below the training seeds: never evaluation."""
    sources = []
    for name, info in TRAIN_CLIPS.items():
        frames, fps = load_clip(name)
        sources += [Source(f"{name}[{a}:{b}]", "train", frames[a:b], fps) for a, b in info.shots]
    return sources + synth_sources(list(range(seed, seed + 3)), 200, 320, 180)


def print_tuning(cases: list[dict], fillers: list[str], context: int) -> None:
    cases = [{**c, "group": "train"} for c in cases]
    summary = summarise(cases)
    print_tables(summary, cases, context)
    mean_psnr = {
        name: np.mean([summary["train"][s][name]["psnr"] for s in summary["train"]])
        for name in fillers
    }
    console.print("mean PSNR over span lengths:", {k: round(v, 2) for k, v in mean_psnr.items()})


def tune_plate(args: argparse.Namespace) -> None:
    """Sweep the background plate's tau on training footage: bikes.mp4 shots, synth seeds < 1e6."""
    sources = training_sources(args.seed)
    taus = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0]
    fillers = {
        f"tau={tau:g}": (lambda b, a, n, f, tau=tau: baselines.background_plate(b, a, n, f, tau))
        for tau in taus
    }
    fillers["crossfade"] = baselines.crossfade
    cases = evaluate(sources, fillers, [1, 4, 16, 64], args.context, args.positions)
    print_tuning(cases, list(fillers), args.context)


def parse_sampling(text: str) -> list[tuple[float, int, float]]:
    """ "1:1,1:4,1:1:3" -> [(sample_start, sample_steps, change_tau), ...] (tau 0 if left out)."""
    settings = []
    for item in text.split(","):
        start, steps, *tau = item.split(":")
        settings.append((float(start), int(steps), float(tau[0]) if tau else 0.0))
    return settings


def tune_sampling(args: argparse.Namespace) -> None:
    """Sweep MALT's sampling (where it starts, how many steps) and the trust distance of its
    change (change_tau) on training footage only.

    The same sources as tune_plate (never the evaluation clips or seeds); each setting runs the
    same checkpoint with only config.json's sample_start, sample_steps and change_tau changed, in
    a temporary copy. Fewer steps from pure noise give the mean of the model's estimate (PSNR),
    more steps a sample (detail): this is where that trade is chosen, and how far from real
    footage the model's change starts to be worth more than the guess it changes.
    """
    model_dir = args.model or default_checkpoint_dir()
    sources = training_sources(args.seed)
    fillers: dict[str, Filler] = {"flowplate": BASELINES["flowplate"]}
    with tempfile.TemporaryDirectory() as tmp:
        for start, steps, tau in parse_sampling(args.tune_sampling):
            name = f"start={start:g},steps={steps},tau={tau:g}"
            copy = Path(tmp) / name
            copy.mkdir()
            for item in model_dir.iterdir():
                if item.is_file():
                    (copy / item.name).write_bytes(item.read_bytes())
            config = json.loads((copy / "config.json").read_text())
            config.update(sample_start=start, sample_steps=steps, change_tau=tau)
            (copy / "config.json").write_text(json.dumps(config))
            filler = malt_filler(args.seed, copy)
            assert not isinstance(filler, str), filler
            fillers[name] = filler
        cases = evaluate(sources, fillers, [1, 4, 16, 64], args.context, args.positions)
    print_tuning(cases, list(fillers), args.context)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fillers", default=",".join([*BASELINES, "guess", "malt"]))
    parser.add_argument("--spans", default="1,4,16,64,128")
    parser.add_argument("--context", type=int, default=16, help="real frames on each side")
    parser.add_argument("--positions", type=int, default=3, help="cuts per source and span")
    parser.add_argument("--clips", default=",".join(EVAL_CLIPS))
    parser.add_argument("--max-side", type=int, default=640, help="shrink real clips to this")
    parser.add_argument("--synth-seeds", type=int, default=2, help="held-out simulated cameras")
    parser.add_argument("--synth-size", default="640x360")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, help="MALT checkpoint (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write settings, every case and the means")
    parser.add_argument(
        "--quality-json",
        type=Path,
        help="write the means as the model card's quality.json (gapfill/report/quality.py)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few, short cuts")
    parser.add_argument("--tune-plate", action="store_true")
    parser.add_argument(
        "--tune-sampling",
        metavar="START:STEPS[:TAU],...",
        help="sweep MALT's sample_start, sample_steps and change_tau on training footage, "
        "e.g. 1:1,1:4,1:1:3",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.spans, args.positions, args.synth_seeds, args.max_side = "1,4,16", 1, 1, 320
    if args.tune_plate:
        tune_plate(args)
        return
    if args.tune_sampling:
        tune_sampling(args)
        return

    clips = [c for c in args.clips.split(",") if c]
    for clip in clips:
        if clip not in EVAL_CLIPS:
            sys.exit(f"error: --clips: {clip} is not an evaluation clip ({', '.join(EVAL_CLIPS)})")
    spans = [int(s) for s in args.spans.split(",")]
    width, height = (int(v) for v in args.synth_size.split("x"))
    seeds = [HELD_OUT_SEED_BASE + args.seed + i for i in range(args.synth_seeds)]
    fillers = build_fillers([f for f in args.fillers.split(",") if f], args.seed, args.model)
    sources = real_sources(clips, args.max_side)
    # Long enough that the longest span's cuts do not overlap: as many distinct holes as for the
    # short spans, each with its own walkers, boxes and lamp phases.
    synth_length = 2 * args.context + args.positions * max(spans)
    sources += synth_sources(seeds, synth_length, width, height)

    cases = evaluate(sources, fillers, spans, args.context, args.positions)
    summary = summarise(cases)
    print_tables(summary, cases, args.context)
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        sizes = {s.name: list(s.frames.shape[1:3]) for s in sources}
        payload = {"settings": settings, "source_sizes": sizes, "summary": summary, "cases": cases}
        write_json(args.json, payload)
    if args.quality_json:
        write_quality(args.quality_json, rows_from_summary(summary))


if __name__ == "__main__":
    main()
