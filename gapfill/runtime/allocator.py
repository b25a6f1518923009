"""Keep a long fill's memory flat under glibc's allocator.

glibc serves large blocks with mmap and returns them to the system when freed, but each time such
a block is freed it raises its mmap threshold to that block's size (up to 32 MiB). After a few
segments the per-segment arrays of the fill (frames, latents, activations) all come from the heap
instead, where long-lived and short-lived blocks interleave and the heap only grows: a 10-minute
forward generation was seen to climb from 0.8 to 1.5 GiB on one checkpoint and stay flat on
another (benchmarks/long_horizon.py). Pinning the threshold, as `MALLOC_MMAP_THRESHOLD_=131072`
in the environment would, turns the dynamic adjustment off: the same run stays within 1.05x.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


@functools.cache
def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold for this process (once); False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to pin
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
