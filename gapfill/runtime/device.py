"""Which torch device runs the model: one rule for inference (gapfill.runtime) and training."""

from __future__ import annotations

import os

from gapfill.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str) -> None:
    """Refuse a device name that is none of DEVICES."""
    if device not in DEVICES:
        raise UserError(f"--device: {device!r} is not one of {', '.join(DEVICES)}")


def resolve_device(device: str) -> str:
    """The torch device for `device`: with "auto" the CUDA GPU when one is usable, else the CPU."""
    import torch

    check_device(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is usable on this host")
    return "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu"


def usable_cores() -> int:
    """The CPU cores this process may run on: in a container or under taskset fewer than the
    host's (os.cpu_count() counts the host's), and the footage workers must not outnumber them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
