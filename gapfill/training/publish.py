"""Copy a trained checkpoint into the package as the shipped default (weights stored as fp16).

    python -m gapfill.training.publish /work/train/malt-v1/export [--dest gapfill/network/default]

Halving the weights keeps the package small (about 15 MB); loading casts them back to fp32.
The fill it gives is checked against the fp32 checkpoint before anything is replaced.

With --autoencoder-only it writes a stage-1 run's autoencoder alone (about a third of the size),
which `gapfill train --stage 2 --autoencoder DEST` starts a denoiser on: how a stage 1 trained on
one machine travels to another (scripts/device/README.md), checked by its reconstructions.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gapfill.fill.generate import fill_working
from gapfill.network.checkpoint import checkpoint_sha256, load_model, read_weights, save_model
from gapfill.network.config import default_checkpoint_dir
from gapfill.network.malt import Malt
from gapfill.runtime.backend import Backend
from gapfill.runtime.torch_backend import TorchBackend
from gapfill.synth.scene import Scene

# fp16 weights must reproduce the fp32 fill closely (PSNR between the two, dB).
MIN_PARITY_PSNR = 35.0


def publish(source: Path, dest: Path, half: bool = True) -> float:
    """Write `source` into `dest` (replacing it); returns the fp16-vs-fp32 fill PSNR in dB."""
    model = load_model(source)
    state = {
        k: (v.half() if half and v.is_floating_point() else v)
        for k, v in model.state_dict().items()
    }
    return _stage_and_replace(
        model,
        state,
        dest,
        "fill",
        lambda staged: fill_parity_db(TorchBackend(model), TorchBackend(load_model(staged))),
    )


def publish_autoencoder(source: Path, dest: Path) -> float:
    """Write `source`'s autoencoder alone, fp16, into `dest` (replacing it); returns the PSNR in
    dB between the fp16 and the fp32 autoencoder's reconstructions."""
    model = load_model(source)
    state = {
        k: (v.half() if v.is_floating_point() else v)
        for k, v in model.state_dict().items()
        if k.startswith("autoencoder.")
    }

    def parity(staged: Path) -> float:
        halved = Malt(model.config)
        halved.autoencoder.load_state_dict(
            {k[len("autoencoder.") :]: v.float() for k, v in read_weights(staged).items()}
        )
        return _reconstruction_psnr(model, halved.eval())

    return _stage_and_replace(model, state, dest, "reconstruction", parity)


def _stage_and_replace(
    model: Malt,
    state: dict[str, torch.Tensor],
    dest: Path,
    what: str,
    parity_of: Callable[[Path], float],
) -> float:
    """Write `state` into a folder beside `dest`, check it (parity_of(folder), dB), and only then
    put it in `dest`'s place: a failed check leaves `dest` as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        staged = Path(tmp) / "staged"
        save_model(model, staged, state=state)
        parity = parity_of(staged)
        if parity < MIN_PARITY_PSNR:
            raise RuntimeError(f"fp16 weights change the {what} too much: {parity:.1f} dB")
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    return parity


@torch.no_grad()
def _reconstruction_psnr(reference: Malt, candidate: Malt) -> float:
    config = reference.config
    frames = Scene(3, width=config.width, height=config.height, fps=10.0).render(0, 16)
    x = torch.from_numpy(frames).float().div(127.5).sub(1.0).permute(3, 0, 1, 2)[None]
    a = reference.autoencoder.decode(reference.autoencoder.encode(x))
    b = candidate.autoencoder.decode(candidate.autoencoder.encode(x))
    mse = float(((a - b) / 2).pow(2).mean())  # in [-1, 1]: half the range is one unit
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def fill_parity_db(reference: Backend, candidate: Backend) -> float:
    """PSNR in dB between two backends' fills of the same simulated hole (inf when identical):
    fp16 against fp32 weights here, a GPU against the CPU in scripts/device/train.py."""
    config = reference.config
    frames = Scene(3, width=config.width, height=config.height, fps=10.0).render(0, 80)
    a = fill_working(reference, frames[:48], frames[64:], 16, seed=0)
    b = fill_working(candidate, frames[:48], frames[64:], 16, seed=0)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="checkpoint folder (e.g. a run's export/)")
    parser.add_argument(
        "--dest", type=Path, help="where to write (default: the shipped checkpoint's folder)"
    )
    parser.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    parser.add_argument(
        "--autoencoder-only",
        action="store_true",
        help="write the autoencoder alone (fp16), for `gapfill train --stage 2 --autoencoder`",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.autoencoder_only:
        if args.dest is None:  # never over the shipped model, which must stay whole
            parser.error("--autoencoder-only needs --dest")
        parity = publish_autoencoder(args.source, args.dest)
        size = sum(p.stat().st_size for p in args.dest.iterdir()) / 2**20
        print(
            f"{args.dest}: autoencoder, {size:.1f} MB, fp16 reconstruction parity {parity:.1f} dB"
        )
        return
    args.dest = args.dest or default_checkpoint_dir()
    parity = publish(args.source, args.dest, half=not args.fp32)
    size = sum(p.stat().st_size for p in args.dest.iterdir()) / 2**20
    digest = checkpoint_sha256(args.dest)
    print(f"{args.dest}: {size:.1f} MB, sha256 {digest}, fp16 fill parity {parity:.1f} dB")


if __name__ == "__main__":
    main()
