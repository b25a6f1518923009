"""Fill speed: seconds of 10 fps footage filled per wall-clock second, at the working size.

Fills a SPAN-frame hole (default 64: four segments) between real simulated footage, REPEATS times,
with each backend that is available here, and prints footage-seconds per second (>= 1 means
faster than real time). The eager PyTorch backend always runs, on --device (cpu, or cuda on a
GPU host: scripts/device/run.sh measures it in a GPU lease); backends from gapfill.runtime
(ONNX Runtime, TensorRT) are added when that package provides `create_backend(name, checkpoint)`.

    .venv/bin/python benchmarks/fill_speed.py [--model DIR] [--span 64] [--threads 1] [--json]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

FPS = 10.0
SCENE_SEED = 4243  # held out from training (training uses seeds >= 100000)


def backends(model_dir: Path, device: str = "cpu") -> dict[str, object]:
    from gapfill.network.checkpoint import load_model
    from gapfill.runtime.torch_backend import TorchBackend

    torch_backend = TorchBackend(load_model(model_dir), device=device)
    # "torch" on the CPU is the name benchmarks/capacity_doc.py reads from fill_speed.txt.
    name = "torch" if device == "cpu" else torch_backend.provider
    found: dict[str, object] = {name: torch_backend}
    try:
        from gapfill.runtime import create_backend  # the exporters' runtimes, when present
    except ImportError:
        return found
    for name in ("onnx", "tensorrt"):
        try:
            found[name] = create_backend(name, model_dir)
        except Exception as exc:  # a runtime that is not installed here is skipped, with the reason
            print(f"{name}: skipped ({exc})", file=sys.stderr)  # stdout may be --json
    return found


def measure(backend, span: int, repeats: int, steps: int | None) -> dict:
    from gapfill.fill.generate import fill_working
    from gapfill.synth.scene import Scene

    config = backend.config
    frames = Scene(SCENE_SEED, width=config.width, height=config.height, fps=FPS).render(
        0, 64 + span + 32
    )
    before, after = frames[:64], frames[64 + span :]
    fill_working(backend, before, after, config.segment_frames, seed=0, steps=steps)  # warm-up
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        fill_working(backend, before, after, span, seed=repeat, steps=steps)
        times.append(time.perf_counter() - started)
    best, median = min(times), float(np.median(times))
    return {
        "span_frames": span,
        "steps": steps or config.sample_steps,
        "working_size": f"{config.width}x{config.height}",
        "median_s": median,
        "footage_s_per_s": span / FPS / median,
        "best_footage_s_per_s": span / FPS / best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--span", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: config)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--device", default="cpu", help="the torch backend's device: cpu or cuda")
    args = parser.parse_args()

    import torch

    from gapfill.network.config import default_checkpoint_dir

    torch.set_num_threads(args.threads)
    model_dir = args.model or default_checkpoint_dir()
    results = {}
    for name, backend in backends(model_dir, args.device).items():
        results[name] = {
            "threads": args.threads,
            **measure(backend, args.span, args.repeats, args.steps),
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Fill speed, {args.span}-frame hole at {FPS:g} fps, {args.threads} thread(s)"
    )
    for column in ("backend", "working size", "DDIM steps", "median s", "footage s / s"):
        table.add_column(column)
    for name, r in results.items():
        table.add_row(
            name,
            r["working_size"],
            str(r["steps"]),
            f"{r['median_s']:.2f}",
            f"{r['footage_s_per_s']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
