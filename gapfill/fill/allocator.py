"""Keep a long fill's memory flat under glibc's allocator.

Each segment of a fill allocates and frees the same large arrays (frames, latents, activations).
glibc raises its mmap threshold each time a large mmapped block is freed, so after a few segments
these come from the heap, where they interleave with longer-lived blocks; freed holes in the middle
of the heap are not given back, and a 10-minute forward generation was seen to climb from 0.8 to
1.5 GiB (benchmarks/long_horizon.py). Handing the free pages back after every segment
(malloc_trim) keeps it flat for about 7 % more CPU per segment; pinning the mmap threshold instead
(MALLOC_MMAP_THRESHOLD_) also kept it flat but cost about 33 %.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process already runs on
    except (OSError, AttributeError):  # musl and others: no malloc_trim, nothing to release
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Give the heap's free pages back to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
