"""The first guess (MotionGuess) alone on simulated plant cameras, hole by hole.

Holes of each span are cut at frames 32 + i·span (i = 0..3) of each seed's camera, with 32 real
frames on each side; the table lists luma PSNR per hole and the mean. It is the yardstick for
changes to the classical layers (gapfill/fill/motion_fill.py, motion_analysis.py, periodic.py):
run it on training seeds (below 1e6) to choose, on held-out seeds (2000000 on) to confirm.
`--walkers` adds what the hole would score with the true walker pixels pasted over the guess
(the scene drawn once more without its people shows where they are): the ceiling of a better
walker model.

    .venv/bin/python benchmarks/guess_holes.py --seeds 11-16 --spans 16,64
    .venv/bin/python benchmarks/guess_holes.py --seeds 2000000-2000003 --spans 16 --walkers
"""

from __future__ import annotations

import argparse

import numpy as np

from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.metrics import psnr
from gapfill.synth.scene import Scene

CONTEXT = 32
POSITIONS = 4
SIZE = (640, 360)
FPS = 10.0


def without_people(scene: Scene, start: int, count: int) -> np.ndarray:
    """The same frames with nobody walking (the scene's walkers switched off for one render)."""
    scene.walkers_at = lambda t: []  # instance attribute shadows the method
    try:
        return scene.render(start, count)
    finally:
        del scene.walkers_at


def parse_seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="11-16", help="simulated cameras, FIRST-LAST")
    parser.add_argument("--spans", default="16,64", help="hole lengths, frames")
    parser.add_argument("--walkers", action="store_true", help="also the true-walker ceiling")
    args = parser.parse_args()
    for span in (int(s) for s in args.spans.split(",")):
        guess_db, ceiling_db = [], []
        for seed in parse_seeds(args.seeds):
            scene = Scene(seed, *SIZE, FPS)
            video = scene.render(0, 2 * CONTEXT + POSITIONS * span)
            for i in range(POSITIONS):
                start = CONTEXT + i * span
                before, after = video[start - CONTEXT : start], video[start + span :][:CONTEXT]
                truth = video[start : start + span]
                guess = MotionGuess(before, after, span).frames(0, span)[0]
                guess_db.append(psnr(guess, truth))
                line = f"seed {seed} hole {start}:{start + span}  guess {guess_db[-1]:.2f} dB"
                if args.walkers:
                    people = (
                        np.abs(truth.astype(np.int16) - without_people(scene, start, span)).max(
                            axis=3, keepdims=True
                        )
                        > 0
                    )
                    ceiling_db.append(psnr(np.where(people, truth, guess), truth))
                    line += f"  with true walkers {ceiling_db[-1]:.2f} dB"
                print(line, flush=True)
        summary = f"span {span}: {len(guess_db)} holes, guess mean {np.mean(guess_db):.3f} dB"
        if ceiling_db:
            summary += f", with true walkers {np.mean(ceiling_db):.3f} dB"
        print(summary, flush=True)


if __name__ == "__main__":
    main()
