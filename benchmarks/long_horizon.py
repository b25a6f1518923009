"""Long-horizon forward generation: constant memory and time per segment, and drift.

MALT generates MINUTES of footage at 10 fps forward from a short real context (no footage after:
the null anchor), one segment at a time. Reported per model:
- peak RSS of the process after the first minute and at the end, and their ratio;
- time per segment during the first minute and during the last, and their ratio: the median of
  the process's CPU seconds per segment (the work done; other jobs on a shared machine stretch
  wall time but not CPU time), with the median wall time beside it;
- brightness drift: mean luma of the last minute minus the first (grey levels);
- sharpness drift: gradient energy of the last minute over the first.
Pass the no-memory-noise ablation checkpoint as a second --model to get the MALT paper's
comparison in one table. Every model runs in its own process so that peak RSS is its own.

    .venv/bin/python benchmarks/long_horizon.py --model gapfill/network/default \\
        --model /work/train/malt-nonoise/export [--minutes 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np

FPS = 10.0
CONTEXT_FRAMES = 32
SCENE_SEED = 4242  # a held-out simulated camera (training uses seeds >= 100000)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_one(model_dir: str, minutes: float, seed: int, threads: int) -> dict:
    import torch

    from gapfill.fill.generate import iter_fill
    from gapfill.fill.metrics import gradient_energy, luma
    from gapfill.network.checkpoint import load_model
    from gapfill.runtime.torch_backend import TorchBackend
    from gapfill.synth.scene import Scene

    torch.set_num_threads(threads)
    backend = TorchBackend(load_model(Path(model_dir)))
    config = backend.config
    context = Scene(SCENE_SEED, width=config.width, height=config.height, fps=FPS).render(
        0, CONTEXT_FRAMES
    )
    n_frames = round(minutes * 60 * FPS)
    minute_segments = round(60 * FPS / config.segment_frames)
    empty = context[:0]

    seconds: list[float] = []  # wall
    cpu_seconds: list[float] = []
    first_minute: list[np.ndarray] = []
    last_minute: list[np.ndarray] = []
    rss_first_minute = 0.0
    total_segments = -(-n_frames // config.segment_frames)
    started, cpu_started = time.perf_counter(), time.process_time()
    for k, frames in enumerate(iter_fill(backend, context, empty, n_frames, seed=seed)):
        now, cpu_now = time.perf_counter(), time.process_time()
        seconds.append(now - started)
        cpu_seconds.append(cpu_now - cpu_started)
        started, cpu_started = now, cpu_now
        if k < minute_segments:
            first_minute.append(frames)
        if k == minute_segments - 1:
            rss_first_minute = _peak_rss_mib()
        if k >= total_segments - minute_segments:
            last_minute.append(frames)
    first, last = np.concatenate(first_minute), np.concatenate(last_minute)
    # The first segments pay for one-time warm-up (allocations, kernel selection): skip two.
    head, tail = slice(2, minute_segments), slice(-minute_segments, None)
    cpu_head, cpu_tail = np.median(cpu_seconds[head]), np.median(cpu_seconds[tail])
    return {
        "model": model_dir,
        "minutes": minutes,
        "segments": len(seconds),
        "rss_first_minute_mib": rss_first_minute,
        "rss_end_mib": _peak_rss_mib(),
        "rss_ratio": _peak_rss_mib() / rss_first_minute,
        "segment_s_first_minute": float(np.median(seconds[head])),
        "segment_s_last_minute": float(np.median(seconds[tail])),
        "segment_cpu_s_first_minute": float(cpu_head),
        "segment_cpu_s_last_minute": float(cpu_tail),
        "segment_time_ratio": float(cpu_tail / cpu_head),
        "brightness_drift": float(luma(last).mean() - luma(first).mean()),
        "sharpness_drift": float(gradient_energy(last) / max(gradient_energy(first), 1e-9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, help="checkpoint folder(s)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    models = args.model or [str(Path(__file__).parents[1] / "gapfill" / "model" / "default")]

    results = []
    context = multiprocessing.get_context("spawn")
    for model in models:
        with context.Pool(1) as pool:
            results.append(pool.apply(run_one, (model, args.minutes, args.seed, args.threads)))
    if args.json:
        print(json.dumps(results, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Forward generation, {args.minutes:g} min at {FPS:g} fps (CPU)")
    for column in (
        "model",
        "RSS 1 min (MiB)",
        "RSS end (MiB)",
        "RSS ratio",
        "CPU s/segment 1st min",
        "CPU s/segment last min",
        "time ratio (CPU)",
        "wall s/segment 1st/last min",
        "brightness drift",
        "sharpness drift",
    ):
        table.add_column(column)
    for r in results:
        table.add_row(
            "/".join(Path(r["model"]).parts[-2:]),
            f"{r['rss_first_minute_mib']:.0f}",
            f"{r['rss_end_mib']:.0f}",
            f"{r['rss_ratio']:.3f}",
            f"{r['segment_cpu_s_first_minute']:.3f}",
            f"{r['segment_cpu_s_last_minute']:.3f}",
            f"{r['segment_time_ratio']:.3f}",
            f"{r['segment_s_first_minute']:.3f}/{r['segment_s_last_minute']:.3f}",
            f"{r['brightness_drift']:+.2f}",
            f"{r['sharpness_drift']:.3f}",
        )
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
