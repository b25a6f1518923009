"""One GPU lease's MALT training: check the CUDA path, train, and bring the model back.

Runs on the lent GPU machine (scripts/device/README.md says how a session starts it), whose
Python has PyTorch, OpenCV, scikit-image and Matplotlib but not the rest of gapfill's
dependencies: so it calls the training library (`train_on_clips`, what `gapfill train` calls)
rather than the CLI, which imports the catalog, the API and provenance as well.

    python3 scripts/device/train.py --results $OUT --clips .device/clips/bikes.mp4 ... \
        --autoencoder .device/autoencoder --stage2-minutes 7

Steps, each timed into RESULTS/summary.json:
1. a tiny model trained a few steps through both stages on the GPU, with footage workers, so a
   broken CUDA path costs seconds of the lease, not all of it;
2. stage 1 (the autoencoder) for --stage1-minutes, unless --autoencoder brings one trained on
   another machine (`python -m gapfill.training.publish --autoencoder-only`);
3. stage 2 (denoiser and memory, from scratch) for --stage2-minutes;
4. the EMA weights as fp16 into RESULTS/model (what `gapfill fill --model` and the benchmarks
   read), the training log into RESULTS/train.log.

Nothing here chooses the sampler or change_tau: those are calibrated afterwards on training
footage, on the CPU, as MODEL_CARD.md describes.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from gapfill.network.checkpoint import load_model
from gapfill.network.config import MaltConfig
from gapfill.runtime.device import usable_cores
from gapfill.runtime.torch_backend import TorchBackend
from gapfill.training.commands import model_sizes, parse_curriculum, train_on_clips
from gapfill.training.publish import fill_parity_db, publish
from gapfill.training.train import trained_steps

SYNTH_SEEDS = (100_000, 1_100_000)  # the training seeds of gapfill train (disjoint from eval)
NO_STEP_LIMIT = 1_000_000  # the stages stop on their minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="where the model comes back")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gapfill-train"))
    parser.add_argument("--clips", nargs="+", default=[], help="real training clips (paths)")
    parser.add_argument("--config", type=Path, default=Path("scripts/device/space4.json"))
    parser.add_argument("--autoencoder", type=Path, help="skip stage 1: start on this one")
    parser.add_argument("--stage1-minutes", type=float, default=3.0)
    parser.add_argument("--stage2-minutes", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=16, help="windows per step (4 on the CPU)")
    parser.add_argument("--lr", type=float, default=3e-4, help="stage 2 (the CPU runs: 2e-4)")
    parser.add_argument("--curriculum", default="0:2,1500:4,3000:8")
    # Making footage, not the model, bounds a GPU's steps: each batch trains 4 (train --echo).
    parser.add_argument("--echo", type=int, default=4, help="stage 2 steps per batch of footage")
    parser.add_argument("--device", default="cuda", help="cuda; cpu to rehearse the script")
    parser.add_argument("--workers", type=int, default=max(1, usable_cores() - 2))
    args = parser.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = True  # a small model: TF32 is precise enough
    torch.backends.cudnn.allow_tf32 = True
    args.results.mkdir(parents=True, exist_ok=True)
    summary: dict = {
        "device": args.device, "workers": args.workers, "echo": args.echo,
        "torch": torch.__version__,
    }  # fmt: skip
    if args.device == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(0)
    seconds = _stopwatch()

    smoke = args.work / "smoke"
    shutil.rmtree(smoke, ignore_errors=True)
    for stage in (1, 2):
        train_on_clips(
            args.clips[:1], smoke, stage, 3, SYNTH_SEEDS, MaltConfig.tiny(),
            device=args.device, workers=2, photos=True,
        )  # fmt: skip
    summary["smoke_cuda_fill_vs_cpu_db"] = _fill_agreement(smoke / "export", args.device)
    summary["smoke_seconds"] = seconds()

    config = model_sizes(False, args.config)
    run = args.work / "run"
    common = dict(
        batch=args.batch, checkpoint_every=1000, resume=True, device=args.device,
        workers=args.workers, photos=True,
    )  # fmt: skip
    if args.autoencoder is None:
        train_on_clips(
            args.clips, run, 1, NO_STEP_LIMIT, SYNTH_SEEDS, config,
            minutes=args.stage1_minutes, **common,
        )  # fmt: skip
        summary["stage1"] = {"steps": trained_steps(run, 1), "seconds": seconds()}
    train_on_clips(
        args.clips, run, 2, NO_STEP_LIMIT, SYNTH_SEEDS, config, lr=args.lr,
        minutes=args.stage2_minutes, curriculum=parse_curriculum(args.curriculum),
        autoencoder=args.autoencoder, echo=args.echo, **common,
    )  # fmt: skip
    summary["stage2"] = {"steps": trained_steps(run, 2), "seconds": seconds()}

    parity = publish(run / "export", args.results / "model")
    summary["fp16_fill_parity_db"] = round(parity, 1) if math.isfinite(parity) else "identical"
    shutil.copy(run / "train.log", args.results / "train.log")
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def _fill_agreement(checkpoint: Path, device: str) -> float | str:
    """PSNR in dB between a fill made on `device` and the same fill on the CPU: the inference
    path a GPU host's repairs take (gapfill.runtime), checked before the lease trains."""
    on_cpu, on_device = (  # a model each: the backend moves its model to its device
        TorchBackend(load_model(checkpoint), device=on) for on in ("cpu", device)
    )
    parity = fill_parity_db(on_cpu, on_device)
    return round(parity, 1) if math.isfinite(parity) else "identical"


def _stopwatch() -> Callable[[], float]:
    """A function returning the seconds since its last call (or since the stopwatch started)."""
    last = [time.monotonic()]

    def lap() -> float:
        now = time.monotonic()
        elapsed, last[0] = now - last[0], now
        return round(elapsed, 1)

    return lap


if __name__ == "__main__":
    main()
