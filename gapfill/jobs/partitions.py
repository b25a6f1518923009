"""Time partitions of Frigate's layout, `<root>/<YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4`: which
hour folders can still change and which are history.

A recorder writes into the folder of the current hour; the previous hour's folder still gets the
segment that straddled the hour and anything written late. Folders older than that change only
when a person restores or copies files into them, so the watch lists them again only once in a
while (the reconcile). Hours are UTC, as Frigate names them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

HOUR = dt.timedelta(hours=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"\d{2}$")


@dataclass(frozen=True, order=True)
class Partition:
    """One hour folder of a recordings root."""

    start: dt.datetime  # UTC, on the hour

    @property
    def key(self) -> str:
        """`YYYY-MM-DD/HH`: the folder below the root, and the key of its watch_progress row."""
        return self.start.strftime("%Y-%m-%d/%H")

    @property
    def end(self) -> dt.datetime:
        return self.start + HOUR

    def folder(self, root: Path) -> Path:
        return root / self.start.strftime("%Y-%m-%d") / self.start.strftime("%H")

    @classmethod
    def of(cls, moment: dt.datetime) -> Partition:
        return cls(moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0))


def live_partitions(now: dt.datetime, margin: dt.timedelta) -> list[Partition]:
    """The hours that can still change at `now`: the current one and the previous one, widened by
    `margin` on both sides (a camera clock ahead of ours, a segment written late), oldest first."""
    first = Partition.of(now - HOUR - margin)
    last = Partition.of(now + margin)
    found = []
    moment = first.start
    while moment <= last.start:
        found.append(Partition(moment))
        moment += HOUR
    return found


def partitions_on_disk(root: Path) -> list[Partition]:
    """Every hour folder under `root`, found by listing the root and its date folders only (a few
    hundred directory entries for a month; no segment file is listed or opened). Folders that are
    not of the layout are left out: ingest reports such files when it is run on the tree."""
    found = []
    for date in _subfolders(root, _DATE):
        for hour in _subfolders(root / date, _HOUR):
            try:
                start = dt.datetime.strptime(f"{date} {hour}", "%Y-%m-%d %H")
            except ValueError:  # 2026-02-30 or hour 25: not a partition
                continue
            found.append(Partition(start.replace(tzinfo=dt.UTC)))
    return sorted(found)


def _subfolders(folder: Path, name: re.Pattern[str]) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                e.name for e in entries if name.match(e.name) and e.is_dir(follow_symlinks=True)
            )
    except OSError:
        return []
