"""The first guess (MotionGuess) alone on simulated plant cameras, hole by hole.

Holes of each span are cut at frames 32 + i·span (i = 0..3) of each seed's camera, with 32 real
frames on each side; the table lists luma PSNR per hole and the mean. It is the yardstick for
changes to the classical layers (gapfill/fill/motion_fill.py, motion_analysis.py, periodic.py):
run it on training seeds (below 1e6) to choose, on held-out seeds (2000000 on) to confirm.

`--walkers` adds three ceilings, each the guess with the people's pixels replaced (where the
scene drawn without its people differs from the truth, or a replacement is drawn):
- true walkers: the real pixels; what a perfect walker model would score;
- end poses dissolved: each person drawn where they really are, in the two poses seen in the end
  frames cross-dissolved, as the guess does; what perfect tracking alone would score;
- nearest context pose: each person drawn where they really are, in the pose of the context
  frame whose stride is nearest theirs (legs and arms look alike, so |sin| of the stride phase);
  what a model of the stride that copies poses from the context could score.

    .venv/bin/python benchmarks/guess_holes.py --seeds 11-16 --spans 16,64
    .venv/bin/python benchmarks/guess_holes.py --seeds 20,22,24,28,33,40,59,60,61,65,69
    .venv/bin/python benchmarks/guess_holes.py --seeds 2000000-2000003 --spans 16 --walkers

Seeds 11-16 have nobody walking through their 16-frame holes (only 14 and 15 through their
64-frame ones); the second line's training seeds are those below 70 that do at 16 frames, as
every held-out seed 2000000-2000003 does.
"""

from __future__ import annotations

import argparse

import numpy as np

from gapfill.fill.first_guess import MotionGuess
from gapfill.fill.metrics import psnr
from gapfill.synth.drawing import Walker, draw_walker
from gapfill.synth.scene import Scene

CONTEXT = 32
POSITIONS = 4
SIZE = (640, 360)
FPS = 10.0
CEILINGS = ("true walkers", "end poses dissolved", "nearest context pose")


def without_people(scene: Scene, start: int, count: int) -> np.ndarray:
    """The same frames with nobody walking (the scene's walkers switched off for one render)."""
    scene.walkers_at = lambda t: []  # instance attribute shadows the method
    try:
        return scene.render(start, count)
    finally:
        del scene.walkers_at


def drawn_walker(walker: Walker, pose_s: float, at_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The walker in its pose at time pose_s, drawn where it is at at_s: colour (H,W,3) and
    alpha (H,W), float32; drawn on black, every pixel it touches is opaque (its antialiased edge
    too: a ceiling need not be exact to the last grey level)."""
    colour = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    draw_walker(colour, walker, pose_s, x=walker.x_at(at_s, SIZE[0]))
    return colour.astype(np.float32), (colour.max(axis=2) > 0).astype(np.float32)


def posed_people(
    scene: Scene,
    hole: int,
    span: int,
    k: int,
    frames: tuple[np.ndarray, np.ndarray, np.ndarray],
    nearest: bool,
) -> np.ndarray:
    """Hole frame k with its people drawn at their true places (over the frame without them)
    wherever they or the drawing are, the guess elsewhere: in the end frames' poses dissolved,
    or (nearest) in the pose of the context frame nearest their stride (legs and arms look
    alike, so |swing|).

    frames: that hole frame's guess (H,W,3) uint8, the frame without people (H,W,3) uint8, and
    where the people are in the truth (H,W) bool.
    """
    guess, empty, people = frames
    at_s = (hole + k) / FPS
    t = (k + 1) / (span + 1)
    colour = np.zeros(guess.shape, np.float32)
    alpha = np.zeros(guess.shape[:2], np.float32)
    for walker in scene.walkers_at(at_s):
        if nearest:
            context = [*range(hole - CONTEXT, hole), *range(hole + span, hole + span + CONTEXT)]
            seen = [
                f / FPS
                for f in context
                if walker.is_visible(f / FPS, SIZE[0])
                and 0 < walker.x_at(f / FPS, SIZE[0]) < SIZE[0]
            ]
            poses = []
            if seen:
                stride = abs(walker.swing(at_s))
                pose_s = min(seen, key=lambda s: abs(abs(walker.swing(s)) - stride))
                poses = [(pose_s, 1.0)]
        else:
            ends = (((hole - 1) / FPS, 1 - t), ((hole + span) / FPS, t))
            poses = [(s, w) for s, w in ends if walker.is_visible(s, SIZE[0])]
        for pose_s, weight in poses:
            drawn_colour, drawn_alpha = drawn_walker(walker, pose_s, at_s)
            colour += weight * drawn_colour * drawn_alpha[..., None]
            alpha += weight * drawn_alpha
    backdrop = empty.astype(np.float32)
    opacity = np.minimum(alpha, 1.0)[..., None]
    drawn = backdrop + opacity * (colour / np.maximum(alpha, 1e-6)[..., None] - backdrop)
    return np.where((people | (alpha > 0))[..., None], drawn, guess)


def ceilings(
    scene: Scene, hole: int, span: int, truth: np.ndarray, guess: np.ndarray
) -> list[float]:
    """The hole's PSNR under each of CEILINGS."""
    empty = without_people(scene, hole, span)
    people = np.abs(truth.astype(np.int16) - empty).max(axis=3) > 0  # (T,H,W)
    scores = [psnr(np.where(people[..., None], truth, guess), truth)]
    for nearest in (False, True):
        posed = [
            posed_people(scene, hole, span, k, (guess[k], empty[k], people[k]), nearest)
            for k in range(span)
        ]
        scores.append(psnr(np.clip(np.round(posed), 0, 255).astype(np.uint8), truth))
    return scores


def parse_seeds(text: str) -> list[int]:
    """'11-16' or '20,22,24' or a mix: '11-16,20'."""
    seeds = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        default="11-16",
        help="simulated cameras: FIRST-LAST, or a comma list of seeds and ranges",
    )
    parser.add_argument("--spans", default="16,64", help="hole lengths, frames")
    parser.add_argument("--walkers", action="store_true", help="also the walker ceilings")
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
                    ceiling_db.append(ceilings(scene, start, span, truth, guess))
                    line += "".join(
                        f"  {name} {db:.2f}"
                        for name, db in zip(CEILINGS, ceiling_db[-1], strict=True)
                    )
                print(line, flush=True)
        summary = f"span {span}: {len(guess_db)} holes, guess mean {np.mean(guess_db):.3f} dB"
        if ceiling_db:
            means = np.mean(ceiling_db, axis=0)
            summary += "".join(
                f", {name} {db:.3f}" for name, db in zip(CEILINGS, means, strict=True)
            )
        print(summary, flush=True)


if __name__ == "__main__":
    main()
