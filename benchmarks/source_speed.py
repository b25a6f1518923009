"""Whole-fill speed at the source resolution: what a repair of a 720p or 1080p camera costs.

`benchmarks/fill_speed.py` times the model's segment loop at its working size; a repair also
builds the first guess at the source size (plate, flow, motion layers), composes every frame
there and reads the context. This script times the whole `fill_gap` on a SPAN-frame hole of a
simulated camera at each size, and, in the same process as the reference, the working-size part
alone (`fill_working` on the same footage shrunk), so that the ratio says what the source size
adds whatever else the machine is doing. Footage seconds per wall second >= 1 is real time.
`fill_gap` runs as a repair does: where the model's change does not pay on the context
(gapfill/fill/context_check.py) the model does not fill the hole; the "change always kept"
columns time the path where it does, the slower one.

    .venv/bin/python benchmarks/source_speed.py [--sizes 1280x720,1920x1080] [--span 64]
        [--repeats 2] [--threads 2] [--backend auto]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

FPS = 10.0
SCENE_SEED = 4243  # held out from training (training uses seeds >= 100000)
CONTEXT_BEFORE, CONTEXT_AFTER = 64, 32  # what fill_gap reads (gapfill/fill/fill_gap.py)


def footage(width: int, height: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    from gapfill.synth.scene import Scene

    scene = Scene(SCENE_SEED, width=width, height=height, fps=FPS)
    frames = scene.render(0, CONTEXT_BEFORE + span + CONTEXT_AFTER)
    return frames[:CONTEXT_BEFORE], frames[CONTEXT_BEFORE + span :]


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="WxH,... source sizes")
    parser.add_argument("--span", type=int, default=64, help="hole length in frames")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", default="auto", help="torch, onnx or auto (the fastest)")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from gapfill.fill.fill_gap import fill_gap, resolve_backend
    from gapfill.fill.first_guess import MotionGuess
    from gapfill.fill.generate import fill_working
    from gapfill.media.frames import resize_frames

    torch.set_num_threads(args.threads)
    engine = resolve_backend(None, args.backend)
    small = (engine.config.height, engine.config.width)
    table = Table(
        title=f"Whole fill_gap, {args.span}-frame hole at {FPS:g} fps, {args.threads} thread(s), "
        f"backend {type(engine).__name__}"
    )
    for column in (
        "source size",
        "fill_gap s",
        "footage s / s",
        "change always kept s",
        "footage s / s ",
        "guess alone s",
        "working-size loop s",
        "change kept / loop",
    ):
        table.add_column(column, justify="right")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        before, after = footage(width, height, args.span)
        before_small, after_small = resize_frames(before, small), resize_frames(after, small)
        fill_gap(before, after, 16, FPS, backend=args.backend)  # warm-up: loads, allocates
        whole = median_seconds(
            lambda b=before, a=after: fill_gap(b, a, args.span, FPS, backend=args.backend),
            args.repeats,
        )
        # The model's change kept without the check: the path every hole takes where the change
        # pays (gapfill/fill/context_check.py), the slower one.
        unchecked = median_seconds(
            lambda b=before, a=after: fill_gap(
                b, a, args.span, FPS, backend=args.backend, check_change=False
            ),
            args.repeats,
        )
        guess = median_seconds(
            lambda b=before, a=after: MotionGuess(b, a, args.span).frames(0, args.span),
            args.repeats,
        )
        loop = median_seconds(
            lambda b=before_small, a=after_small: fill_working(engine, b, a, args.span),
            args.repeats,
        )
        table.add_row(
            size,
            f"{whole:.2f}",
            f"{args.span / FPS / whole:.2f}",
            f"{unchecked:.2f}",
            f"{args.span / FPS / unchecked:.2f}",
            f"{guess:.2f}",
            f"{loop:.2f}",
            f"{unchecked / loop:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
