"""When a segment file is complete: the watch ingests nothing a recorder is still writing.

A recorder writes a segment in place for as long as the segment lasts. Such a file must not be
catalogued (its hash and duration would be of a fragment), so a file is ingested only once it has
settled:
- its size and mtime are the same as at the previous look (a look is one watch tick);
- its mtime is at least `settle_seconds` old;
- an MP4/MOV has its `moov` index (a recorder writes it last, unless it writes "faststart" files,
  whose index comes first and whose size settles last).
A file that never gets an index (the recorder died) is ingested anyway once it has been quiet for
`abandon_seconds`: ingest then catalogues it as unreadable or damaged, and scan reports why.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MP4_SUFFIXES = {".mp4", ".mov", ".m4v"}


def has_moov(path: Path) -> bool:
    """Whether the top level of an ISO-BMFF file holds a complete `moov` box. Reads only box
    headers; a box running past the end of the file (still being written) does not count."""
    try:
        with path.open("rb") as handle:
            size_on_disk = path.stat().st_size
            position = 0
            while position + 8 <= size_on_disk:
                handle.seek(position)
                header = handle.read(16)
                if len(header) < 8:
                    return False
                size, kind = struct.unpack(">I4s", header[:8])
                if size == 1:  # 64-bit size follows
                    if len(header) < 16:
                        return False
                    size = struct.unpack(">Q", header[8:16])[0]
                elif size == 0:  # runs to the end of the file: the last box, open-ended
                    return False
                if size < 8:
                    return False  # not a box: garbage
                if kind == b"moov":
                    return position + size <= size_on_disk
                position += size
    except OSError:
        return False
    return False


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this (size, mtime) was first seen


@dataclass
class StabilityTracker:
    """What each file not yet catalogued looked like at the previous look, and which changed
    originals were already reported. Bounded: the watch prunes it to the live folders."""

    settle_seconds: float = 5.0
    abandon_seconds: float = 600.0
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _reported: dict[str, tuple[int, int]] = field(default_factory=dict)

    def settled(
        self,
        path: Path,
        now: float | None = None,
        wall: float | None = None,
        by_age: bool = False,
    ) -> bool:
        """True when `path` is complete enough to ingest (see the module docstring). `by_age`:
        the file is in an hour folder that no longer changes (the reconcile, a day apart), so a
        file quiet for `abandon_seconds`, or for `settle_seconds` with its index written, is
        complete at the first look."""
        now = time.monotonic() if now is None else now
        wall = time.time() if wall is None else wall
        try:
            info = path.stat()
        except OSError:
            self._seen.pop(str(path), None)
            return False
        quiet = wall - info.st_mtime
        if (
            by_age
            and quiet >= self.settle_seconds
            and (quiet >= self.abandon_seconds or not _needs_index(path) or has_moov(path))
        ):
            return True
        key = str(path)
        current = (info.st_size, info.st_mtime_ns)
        previous = self._seen.get(key)
        if previous is None or (previous.size, previous.mtime_ns) != current:
            self._seen[key] = _Seen(*current, since=now)
            return False  # first look, or it changed since the last one: look again next tick
        if quiet < self.settle_seconds:
            return False
        if _needs_index(path) and not has_moov(path):
            return now - previous.since >= self.abandon_seconds
        return True

    def pending(self) -> list[Path]:
        """Files seen but not settled yet: the next tick looks at them again."""
        return [Path(p) for p in self._seen]

    def forget(self, path: Path) -> None:
        self._seen.pop(str(path), None)

    def first_report(self, path: Path, signature: tuple[int, int]) -> bool:
        """True the first time a changed original is met with this size and mtime, so a live
        folder's changed file is reported once, not every tick."""
        if self._reported.get(str(path)) == signature:
            return False
        self._reported[str(path)] = signature
        return True

    def prune(self, keep: Callable[[str], bool]) -> None:
        """Forget every file `keep` refuses (its folder is no longer live)."""
        for table in (self._seen, self._reported):
            for key in [k for k in table if not keep(k)]:
                del table[key]


def _needs_index(path: Path) -> bool:
    return path.suffix.lower() in MP4_SUFFIXES
