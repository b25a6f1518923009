"""How far the int8 ONNX graphs stray from PyTorch, over several random input draws.

The exporter checks each precision against PyTorch on one random draw and refuses an export past
exporters.onnx.PARITY_BOUNDS; int8's error (activations are quantised per call) depends on the
draw, so the bound must hold over many. This exports the tests' tiny model (tests/malt_export.py)
with fp16 and int8 into a temporary folder and prints, per draw and graph, the max error over the
output's max value (max_rel), as the exporter measures it.

    .venv/bin/python benchmarks/int8_parity.py [--draws 5] [--precision int8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from malt_export import TINY, tiny_model

from exporters.onnx import (
    GRAPH_NAMES,
    PARITY_BOUNDS,
    call_graph,
    export_onnx,
    parity,
    random_inputs,
)
from gapfill.network.checkpoint import save_model
from gapfill.runtime.onnx_backend import OnnxBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=5, help="random input draws (seeds 1..N)")
    parser.add_argument("--precision", default="int8", choices=("fp16", "int8"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="int8_parity."))
    save_model(tiny_model(), folder)
    export_onnx(folder, folder / "onnx", fp16=True, int8=True)
    graphs = {name: module.eval() for name, module in tiny_model().graphs().items()}
    backend = OnnxBackend(folder / "onnx", device="cpu", precision=args.precision)
    print(f"onnxruntime {onnxruntime.__version__}; bound {PARITY_BOUNDS[args.precision]}")
    worst: dict[str, float] = {}
    for seed in range(1, args.draws + 1):
        rng = np.random.default_rng(seed)
        for name in GRAPH_NAMES:
            inputs = random_inputs(TINY, name, rng, batch=1)
            with torch.inference_mode():
                reference = graphs[name](*(torch.from_numpy(a) for a in inputs)).numpy()
            figures = parity(reference, call_graph(backend, name, inputs))
            worst[name] = max(worst.get(name, 0.0), figures["max_rel"])
            print(f"draw {seed} {name:14s} max_rel {figures['max_rel']:.3f}")
    print("worst: " + ", ".join(f"{name} {value:.3f}" for name, value in worst.items()))


if __name__ == "__main__":
    main()
