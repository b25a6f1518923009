"""Speed of the motion-aware filler (gapfill/fill/motion_fill.py) at source resolutions.

Fills a SPAN-frame hole between 32+32 real frames of a simulated plant camera drawn at each size,
with `flowplate` (baselines.FirstGuess, MALT's first guess today) and `motion`
(motion_fill.MotionFill) in the same run, and prints seconds per filled frame: the whole filler
(analysis once per hole + rendering) and the two parts, and motion's time over flowplate's. The
product needs 1280x720 at >= 10 frames per wall-clock second on 2 cores, model included, so the
filler itself must stay well under 0.1 s/frame there.

    .venv/bin/python benchmarks/motion_fill_speed.py [--span 64] [--threads 2] [--repeats 1]
        [--sizes 640x360,1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from gapfill.fill.baselines import FirstGuess
from gapfill.fill.motion_fill import MotionFill
from gapfill.synth.scene import Scene

CONTEXT = 32
FPS = 10.0
SCENE_SEED = 4243  # held out from training (training uses seeds >= 100000)
console = Console()


def timed(
    kind: type, before: np.ndarray, after: np.ndarray, span: int, repeats: int
) -> tuple[float, float]:
    """Best of `repeats`: (seconds to build the filler, seconds to render the whole hole)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        began = time.perf_counter()
        filler = kind(before, after, span) if kind is FirstGuess else kind(before, after, span, FPS)
        built = time.perf_counter()
        # In runs of 16, as a caller that never holds a whole long hole would ask for them.
        for first in range(0, span, 16):
            filler.frames(first, min(16, span - first))
        done = time.perf_counter()
        if done - began < sum(best):
            best = (built - began, done - built)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--span", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)

    table = Table(
        title=f"s/frame, {args.span}-frame hole, {CONTEXT}+{CONTEXT} context frames, "
        f"{args.threads} OpenCV threads, best of {args.repeats}"
    )
    for column in (
        "size",
        "flowplate",
        "motion",
        "motion analysis",
        "motion render",
        "motion / flowplate",
        "motion frames/s",
    ):
        table.add_column(column, justify="left" if column == "size" else "right")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        video = Scene(SCENE_SEED, width, height, FPS).render(0, 2 * CONTEXT + args.span)
        before, after = video[:CONTEXT], video[CONTEXT + args.span :]
        span = args.span
        guess = timed(FirstGuess, before, after, span, args.repeats)
        motion = timed(MotionFill, before, after, span, args.repeats)
        guess_s, motion_s = sum(guess) / span, sum(motion) / span
        table.add_row(
            size,
            f"{guess_s:.4f}",
            f"{motion_s:.4f}",
            f"{motion[0] / span:.4f}",
            f"{motion[1] / span:.4f}",
            f"{motion_s / guess_s:.2f}",
            f"{1 / motion_s:.1f}",
        )
        console.print(f"{size}: done", highlight=False)
    console.print(table)


if __name__ == "__main__":
    main()
