"""gapfill: finds dropped and damaged spans in equipment-camera recordings and fills them with
flagged, auditable reconstructions.

The library surface is what this module names in `__all__`; everything else is internal:

    from gapfill import fill_gap, fill_hole, scan_file, UserError

`fill_hole` is `fill_gap` that also says what made the frames (MALT's learned change, or its
first guess alone where the change did not pay on the footage). They and `scan_file` are
imported on first use, so `import gapfill` stays light (no torch, no PyAV) for code that only
needs the error types or the version.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gapfill.errors import GapfillError, UserError
from gapfill.version import __version__

if TYPE_CHECKING:
    from gapfill.detect.recording import scan_file
    from gapfill.fill.fill_gap import fill_gap, fill_hole

__all__ = ["GapfillError", "UserError", "__version__", "fill_gap", "fill_hole", "scan_file"]

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "fill_gap": "gapfill.fill.fill_gap",
    "fill_hole": "gapfill.fill.fill_gap",
    "scan_file": "gapfill.detect.recording",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'gapfill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
