"""Per-camera adaptation on real footage: a camera's model fine-tuned on its own earlier footage,
measured on its later footage, which it never saw.

What `gapfill train --finetune --camera C` promises a site: its cameras' good footage teaches the
model those cameras. vtest.avi (`make real-clips`; a fixed outdoor camera at 10 fps, people
walking) is cut in time. Frames [0, --split) become a recording of camera `yard` in a scratch site,
and the product's own commands run on it: `gapfill init`, `keys init`, `ingest`, `scan`, `train
--finetune --camera yard --steps N` (which itself holds the last fifth of those frames out of
training to decide whether the child repairs the camera; the table below does not depend on that
decision). Spans are then cut from frames [--split, end) and filled by the parent (the shipped
model unless --model), by the child, and by the first guess alone (`flowplate`), in one table per
span length, as benchmarks/fill_quality.py prints them.

    .venv/bin/python benchmarks/camera_adaptation.py --steps 300 --threads 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch
from fill_quality import Source, build_fillers, evaluate, print_tables, real_sources, summarise

from gapfill.network.config import default_checkpoint_dir

CAMERA = "yard"
GAPFILL = Path(sys.executable).with_name("gapfill")


def write_recording(frames: np.ndarray, fps: float, root: Path) -> Path:
    """The training part as one H.264 file in Frigate's layout (<day>/<hour>/<camera>/MM.SS.mp4)."""
    path = root / "2026-12-01" / "08" / CAMERA / "00.00.mp4"
    path.parent.mkdir(parents=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def run(*args: str, env: dict[str, str]) -> None:
    print("$ gapfill " + " ".join(args), flush=True)
    subprocess.run([str(GAPFILL), *args], env=env, check=True)


def finetune(frames: np.ndarray, fps: float, site: Path, args: argparse.Namespace) -> Path:
    """Catalogue and scan the training frames as camera `yard`, fine-tune its model; the child."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GAPFILL_")},
        "GAPFILL_DATA_DIR": str(site / "data"),
        "GAPFILL_MODEL_PATH": str(args.model),
    }
    write_recording(frames, fps, site / "recordings")
    run("init", env=env)
    run("keys", "init", env=env)
    run("ingest", str(site / "recordings"), "--json", env=env)
    run("scan", "--workers", "1", "--json", env=env)
    child = site / "child"
    run(
        "train", "--finetune", "--camera", CAMERA, "--out", str(child),
        "--steps", str(args.steps), "--threads", str(args.threads), "--seed", str(args.seed),
        "--echo", str(args.echo), env=env,
    )  # fmt: skip
    return child / "export"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="vtest.avi", help="a fixed camera's clip")
    parser.add_argument("--split", type=int, default=600, help="first held-out frame")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    parser.add_argument("--echo", type=int, default=1, help="steps per batch (gapfill train)")
    parser.add_argument("--spans", default="1,4,16,64")
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--positions", type=int, default=4, help="cuts per span length")
    parser.add_argument("--max-side", type=int, default=640, help="shrink the clip to this")
    parser.add_argument("--model", type=Path, default=default_checkpoint_dir(), help="parent")
    parser.add_argument("--child", type=Path, help="an already fine-tuned child (no training)")
    parser.add_argument("--keep", type=Path, help="keep the scratch site (and child) here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    clip = real_sources([args.clip], args.max_side)[0]
    frames, fps = clip.frames, clip.fps
    if not 0 < args.split < len(frames):
        sys.exit(f"error: --split: must be inside the clip's {len(frames)} frames")
    train, held_out = frames[: args.split], frames[args.split :]

    with tempfile.TemporaryDirectory() as scratch:
        site = args.keep or Path(scratch)
        child = args.child or finetune(train, fps, site, args)
        fillers = {
            "flowplate": build_fillers(["flowplate"], args.seed)["flowplate"],
            "parent": build_fillers(["malt"], args.seed, args.model)["malt"],
            "child": build_fillers(["malt"], args.seed, child)["malt"],
        }
        source = Source(f"{args.clip}[{args.split}:]", "real", held_out, fps)
        spans = [int(s) for s in args.spans.split(",")]
        cases = evaluate([source], fillers, spans, args.context, args.positions)
    print(
        f"{args.clip}: child of {args.model} tuned on frames 0-{args.split - 1} "
        f"({args.split / fps:.0f} s; {args.child or f'{args.steps} steps'}), "
        f"measured on frames {args.split}-{len(frames) - 1}"
    )
    print_tables(summarise(cases), cases, args.context)


if __name__ == "__main__":
    main()
