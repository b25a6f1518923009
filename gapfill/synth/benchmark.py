"""Speed of the simulated cameras: scene rendering, encoding, and the issue-3 acceptance run.

    python -m gapfill.synth.benchmark            # all three, prints one line per figure
    python -m gapfill.synth.benchmark --quick    # rendering and encoding only

Rendering and encoding are timed in this process with OpenCV limited to one thread (x264 runs
with one thread anyway), so they are per-core figures. The acceptance run is
`synthesize(cameras=2, minutes=3, faults="default", seed=7)` at the default 640x360, timed once
with one worker process and once with the default worker count.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from gapfill.media.encode import VideoWriter
from gapfill.synth.scene import Scene
from gapfill.synth.writer import synthesize


def measure_render(frames: int, width: int, height: int) -> tuple[float, float]:
    """(seconds to build a Scene, rendered frames per second)."""
    began = time.perf_counter()
    scene = Scene(7, width, height, fps=10.0)
    built = time.perf_counter() - began
    scene.render(0, 5)  # warm caches
    began = time.perf_counter()
    for start in range(0, frames, 50):  # windows of 50, as a training loader would draw them
        scene.render(1000 + start, min(50, frames - start))
    return built, frames / (time.perf_counter() - began)


def measure_encode(frames: int, width: int, height: int, folder: Path) -> float:
    """Frames per second through VideoWriter (libx264 veryfast, one thread)."""
    pictures = Scene(7, width, height).render(0, min(frames, 100))
    began = time.perf_counter()
    with VideoWriter(folder / "bench.mp4", width=width, height=height, fps=10.0, gop=20) as writer:
        for k in range(frames):
            writer.write(pictures[k % len(pictures)], k * 9000)
    return frames / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--quick", action="store_true", help="skip the acceptance run")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    built, render_fps = measure_render(args.frames, args.width, args.height)
    print(f"scene build {args.width}x{args.height}: {built * 1000:.0f} ms")
    print(f"scene render {args.width}x{args.height}, 1 thread: {render_fps:.0f} frames/s")
    with tempfile.TemporaryDirectory() as folder:
        encode_fps = measure_encode(args.frames, args.width, args.height, Path(folder))
    print(
        f"encode {args.width}x{args.height} libx264 veryfast, 1 thread: {encode_fps:.0f} frames/s"
    )
    if args.quick:
        return
    for workers in (1, None):
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            truth = synthesize(
                Path(folder) / "rec",
                cameras=2,
                minutes=3,
                faults="default",
                seed=7,
                workers=workers,
            )
            seconds = time.perf_counter() - began
        label = "default workers" if workers is None else f"{workers} worker"
        print(
            f"synth --cameras 2 --minutes 3 --faults default --seed 7 ({label}): {seconds:.1f} s, "
            f"{len(truth.segments)} segments, {len(truth.faults)} faults"
        )


if __name__ == "__main__":
    main()
