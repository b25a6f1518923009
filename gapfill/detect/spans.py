"""The one thing every detector returns: a span of a camera's timeline with what is wrong in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Most severe first. When spans of different kinds merge, the merged span takes the most severe
# kind: a frame that is missing or undecodable is worse than one that decodes to a bad picture.
SEVERITY = ("missing", "decode_error", "timestamp", "green", "black", "frozen", "blocky")


@dataclass
class Span:
    """A defect span.

    In-file detectors give `start`/`end` in seconds from the recording's first frame and frame
    indices on the recording's cadence grid (frame i is shown at i / cadence), end exclusive.
    The scan turns them into absolute times.
    """

    kind: str
    start: float
    end: float
    frame_start: int | None
    frame_end: int | None
    detector: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs, end exclusive, of the runs of True in a 1-D boolean array."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask.astype(bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def severity(kind: str) -> int:
    """Lower is more severe."""
    return SEVERITY.index(kind)


def rounded(value: float, digits: int = 4) -> float:
    """Figures are for people: keep them short."""
    return round(float(value), digits)
