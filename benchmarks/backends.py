"""Backend speed: one denoise step and one second of footage, per backend, as ratios to eager torch.

For each backend available here (eager torch; ONNX Runtime fp32, fp16 and int8 on its best
provider; TensorRT fp16 on a CUDA host with tensorrt) it measures, in the same run:
  - the median time of one denoise call (one DDIM step at batch 1: the loop's unit of work),
  - the median wall time of filling a SPAN-frame hole, per second of 10 fps footage filled,
and prints both beside their ratio to eager torch (x > 1: faster than torch), and the PSNR of
the backend's fill against torch's under the same seed. Backends are timed in turn within each
repeat, so that other load on the machine slows them all alike; medians are reported.

Model: --model DIR, else the shipped checkpoint (gapfill/network/default) when present, else a
random-initialised default-size MaltConfig() (timings are the same; PSNR figures then only say
that the graphs compute the same thing). The ONNX export is made into a temporary folder unless
--export DIR names an existing one.

    .venv/bin/python benchmarks/backends.py [--model DIR] [--export DIR] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.network.denoiser_inputs import DenoiserInputs

FPS = 10.0
SCENE_SEED = 4243  # held out from training (training uses seeds >= 100000)


def load_or_build_checkpoint(model: Path | None, scratch: Path) -> tuple[Path, str]:
    """The checkpoint folder to measure and a phrase saying where it came from."""
    from gapfill.network.config import WEIGHTS_NAME, default_checkpoint_dir

    if model is not None:
        return model, str(model)
    shipped = default_checkpoint_dir()
    if (shipped / WEIGHTS_NAME).is_file():
        return shipped, f"shipped {shipped}"
    import torch

    from gapfill.network.checkpoint import save_model
    from gapfill.network.config import MaltConfig
    from gapfill.network.malt import Malt

    torch.manual_seed(0)
    folder = scratch / "random-init"
    save_model(Malt(MaltConfig()), folder)
    return folder, "random-initialised MaltConfig() (no shipped checkpoint)"


def build_backends(checkpoint: Path, export: Path, threads: int) -> dict[str, Any]:
    from gapfill.network.checkpoint import load_model
    from gapfill.runtime.onnx_backend import OnnxBackend
    from gapfill.runtime.torch_backend import TorchBackend

    found: dict[str, Any] = {"torch": TorchBackend(load_model(checkpoint), threads=threads)}
    for precision in ("fp32", "fp16", "int8"):
        found[f"onnx {precision}"] = OnnxBackend(export, precision=precision, threads=threads)
    try:
        from exporters.tensorrt import build_engines
        from gapfill.runtime.tensorrt_backend import TensorRTBackend

        engines = export / "tensorrt"
        if not (engines / "manifest.json").is_file():
            build_engines(export, engines)
        found["tensorrt fp16"] = TensorRTBackend(engines)
    except Exception as exc:  # not installed, or no GPU: said once, then skipped
        print(f"tensorrt: skipped ({str(exc).splitlines()[0]})")
    return found


def loop_inputs(config: Any, rng: np.random.Generator) -> DenoiserInputs[np.ndarray]:
    """One denoise call's inputs as the segment loop sends them (batch 1)."""
    c, f, h, w = config.latent_shape
    z = rng.standard_normal((1, c, f, h, w), dtype=np.float32)
    guide = np.concatenate([z, np.zeros((1, 1, f, h, w), np.float32)], axis=1)
    memory = rng.standard_normal((1, *config.memory_shape), dtype=np.float32)
    one = np.ones(1, np.float32)
    return DenoiserInputs(
        z_t=z,
        t=0.5 * one,
        memory=memory,
        anchor=z.copy(),
        anchor_offset=2 * one,
        guide=guide,
        memory_noise=0.1 * one,
    )


def time_denoise(backends: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median seconds per denoise call, backends interleaved so that load hits them all alike."""
    args = {n: loop_inputs(b.config, np.random.default_rng(0)) for n, b in backends.items()}
    for name, backend in backends.items():
        backend.denoise(args[name])  # warm-up: first calls allocate and pick kernels
    times: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(repeats):
        for name, backend in backends.items():
            started = time.perf_counter()
            backend.denoise(args[name])
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def time_fill(
    backends: dict[str, Any], span: int, repeats: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Median seconds per fill of a `span`-frame hole, interleaved; and each backend's frames."""
    from gapfill.fill.generate import fill_working
    from gapfill.synth.scene import Scene

    config = next(iter(backends.values())).config
    frames = Scene(SCENE_SEED, width=config.width, height=config.height, fps=FPS).render(
        0, 64 + span + 32
    )
    before, after = frames[:64], frames[64 + span :]
    filled: dict[str, np.ndarray] = {}
    for name, backend in backends.items():  # warm-up
        filled[name] = fill_working(backend, before, after, config.segment_frames, seed=0)
    times: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(repeats):
        for name, backend in backends.items():
            started = time.perf_counter()
            filled[name] = fill_working(backend, before, after, span, seed=0)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}, filled


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("--export", type=Path, default=None, help="existing ONNX export folder")
    parser.add_argument("--span", type=int, default=32, help="hole length in frames (32)")
    parser.add_argument("--steps-repeats", type=int, default=20, help="denoise calls timed (20)")
    parser.add_argument("--fill-repeats", type=int, default=5, help="fills timed (5)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per backend (1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gapfill-bench-") as tmp:
        scratch = Path(tmp)
        checkpoint, origin = load_or_build_checkpoint(args.model, scratch)
        export = args.export
        if export is None:
            from exporters.onnx import export_onnx

            export = scratch / "onnx"
            export_onnx(checkpoint, export, fp16=True, int8=True)
        backends = build_backends(checkpoint, export, args.threads)
        steps = time_denoise(backends, args.steps_repeats)
        fills, filled = time_fill(backends, args.span, args.fill_repeats)
        results: dict[str, dict[str, Any]] = {
            name: {
                "provider": getattr(backend, "provider", name),
                "step_ms": 1000 * steps[name],
                "fill_s_per_footage_s": fills[name] / (args.span / FPS),
                "psnr_vs_torch_db": psnr(filled["torch"], filled[name]),
            }
            for name, backend in backends.items()
        }
    base = results["torch"]
    for r in results.values():
        r["step_speedup"] = base["step_ms"] / r["step_ms"]
        r["fill_speedup"] = base["fill_s_per_footage_s"] / r["fill_s_per_footage_s"]
    config = backends["torch"].config
    header = {
        "model": origin,
        "working_size": f"{config.width}x{config.height}",
        "ddim_steps": config.sample_steps,
        "span_frames": args.span,
        "fps": FPS,
        "threads": args.threads,
    }
    if args.json:
        print(json.dumps({"run": header, "backends": results}, indent=2))
        return
    print(
        f"model: {origin}; working size {header['working_size']}, {config.sample_steps} DDIM "
        f"steps, {args.span}-frame hole at {FPS:g} fps, {args.threads} thread(s)"
    )
    columns = ("backend", "provider", "step ms", "x torch", "s per footage s", "x torch",
               "PSNR vs torch")  # fmt: skip
    rows = [
        (
            name,
            r["provider"],
            f"{r['step_ms']:.1f}",
            f"{r['step_speedup']:.2f}",
            f"{r['fill_s_per_footage_s']:.3f}",
            f"{r['fill_speedup']:.2f}",
            "ref" if name == "torch" else f"{r['psnr_vs_torch_db']:.1f} dB",
        )
        for name, r in results.items()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(columns, *rows, strict=True)]
    for line in (columns, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
