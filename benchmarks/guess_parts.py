"""Where the first guess's error is on simulated plant cameras, part by part of the scene.

Cuts holes as `fill_quality.py` does on its simulated cameras (32 real frames each side, 4 evenly
spaced cuts per span in 2*32 + 4*64 frames) and splits MotionGuess's squared error by what the
truth shows there: the walkers (where the scene drawn without its people differs, grown by 2 px),
the flywheel's disc, the lamps, the conveyor's band (belt and boxes) and the rest (still
background). For each part: its share of the pixels, its mean squared luma error (PSNR's error)
and its share of the error, and the mean per-cut PSNR with that part's pixels replaced by the
truth: what a perfect model of that part alone would score. It says which layer of the guess is
worth work.

    .venv/bin/python benchmarks/guess_parts.py [--seeds 2000000-2000001] [--spans 16,64]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

# benchmarks/ is on the path of its scripts; the same cameras, context and seed lists as there
from guess_holes import CONTEXT, FPS, POSITIONS, SIZE, parse_seeds, without_people

from gapfill.fill.first_guess import motion_guess
from gapfill.fill.metrics import luma, psnr
from gapfill.synth.scene import Scene

PARTS = ("walkers", "flywheel", "lamps", "belt and boxes", "rest")


def still_parts(scene: Scene) -> dict[str, np.ndarray]:
    """(H,W) bool masks of the machinery, which stays where it is: flywheel, lamps, belt band."""
    height, width = SIZE[1], SIZE[0]
    wheel = np.zeros((height, width), np.uint8)
    cv2.circle(wheel, scene.wheel_centre, scene.wheel_radius + 3, 1, -1)
    lamps = np.zeros((height, width), np.uint8)
    for lamp in scene._lamps:
        cv2.circle(lamps, (lamp.x, lamp.y), lamp.radius + 3, 1, -1)
    belt = np.zeros((height, width), bool)
    tallest = max((box.sprite.shape[0] + box.lift for box in scene._boxes), default=0)
    belt[min(scene.belt_bottom - tallest, scene.belt_top) : scene.belt_bottom] = True
    return {"flywheel": wheel.astype(bool), "lamps": lamps.astype(bool), "belt and boxes": belt}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="2000000-2000001", help="simulated cameras, e.g. 1-3,7")
    parser.add_argument("--spans", default="16,64")
    args = parser.parse_args(argv)
    length = 2 * CONTEXT + POSITIONS * 64
    grow = np.ones((5, 5), np.uint8)
    for span in (int(s) for s in args.spans.split(",")):
        error = dict.fromkeys(PARTS, 0.0)
        pixels = dict.fromkeys(PARTS, 0)
        cut_psnr: dict[str, list[float]] = {"guess": [], **{part: [] for part in PARTS[:-1]}}
        for seed in parse_seeds(args.seeds):
            scene = Scene(seed, *SIZE, FPS)
            frames = scene.render(0, length)
            nobody = without_people(scene, 0, length)
            machinery = still_parts(scene)
            starts = np.linspace(CONTEXT, length - CONTEXT - span, POSITIONS)
            for start in sorted({round(x) for x in starts}):
                before = frames[start - CONTEXT : start]
                truth = frames[start : start + span]
                after = frames[start + span : start + span + CONTEXT]
                fill = motion_guess(before, after, span, FPS)
                squared = (luma(fill) - luma(truth)) ** 2  # (n,H,W): PSNR's error, per pixel
                people = np.abs(truth.astype(np.int16) - nobody[start : start + span]).max(-1) > 0
                people = np.stack([cv2.dilate(m.astype(np.uint8), grow) > 0 for m in people])
                masks = {"walkers": people}
                rest = ~people
                for part, mask in machinery.items():
                    masks[part] = np.broadcast_to(mask, people.shape) & ~people
                    rest = rest & ~masks[part]
                masks["rest"] = rest
                cut_psnr["guess"].append(psnr(fill, truth))
                for part in PARTS:
                    error[part] += float(squared[masks[part]].sum())
                    pixels[part] += int(masks[part].sum())
                    if part != "rest":
                        perfect = fill.copy()
                        perfect[masks[part]] = truth[masks[part]]
                        cut_psnr[part].append(psnr(perfect, truth))
        total_error, total_pixels = sum(error.values()), sum(pixels.values())
        cuts = len(cut_psnr["guess"])
        print(f"span {span}: {cuts} cuts, guess mean PSNR {np.mean(cut_psnr['guess']):.2f} dB")
        print("  part            pixels   MSE   share of error   mean PSNR with the part perfect")
        for part in PARTS:
            mse = error[part] / max(pixels[part], 1)
            line = (
                f"  {part:14s} {100 * pixels[part] / total_pixels:5.2f}% {mse:7.1f}"
                f"   {100 * error[part] / total_error:5.1f}%"
            )
            if part != "rest":
                line += f"            {np.mean(cut_psnr[part]):.2f}"
            print(line)


if __name__ == "__main__":
    main()
