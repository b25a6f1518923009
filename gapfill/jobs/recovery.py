"""Crash recovery run by repair workers: what `gapfill repair` does before a batch.

A repair killed after its rows were committed leaves the clip under its hidden pending name
without a sidecar; a writer killed earlier leaves hidden `.<clip>.*.part` files. `gapfill repair`
tidies both before it starts; a daemon's workers and `gapfill worker` do the same when they start
and then every RECOVERY_INTERVAL, so a site run only by the daemon needs no manual step.

Several workers (processes, and hosts sharing the output directory) may recover at once:
- one recovery at a time per output directory, by an exclusive lock on a file in it; a worker
  that finds it taken skips its turn, since the holder is doing the same work;
- clips recorded less than PUBLISH_GRACE ago are left alone: their own worker is between its
  commit and its rename (milliseconds apart), not dead;
- finish_interrupted itself tolerates a clip finished by someone else while it was hashing it;
- a pending file of a recorded clip is never removed as stale: it is the only copy of that clip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.clips import clip_paths
from gapfill.config import Settings

log = logging.getLogger("gapfill.jobs.recovery")

LOCK_NAME = ".gapfill-recovery.lock"
# Far longer than a commit-to-rename step ever takes, far shorter than a worker's restart cycle.
PUBLISH_GRACE = dt.timedelta(seconds=60)
# Recovery stats every clip file, so it runs now and then rather than before every job.
RECOVERY_INTERVAL = 300.0
# Same age as `remove_stale_parts`' default: a writer still encoding keeps touching its files.
STALE_PART_SECONDS = 3600.0


@dataclass
class Recovered:
    """What one recovery pass did; `ran` is False when another worker held the lock."""

    ran: bool = False
    finished: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def recover_interrupted(catalog: Catalog, settings: Settings) -> Recovered:
    """Finish interrupted repairs and remove stale partial files, unless another worker is at it.

    `gapfill repair` runs the same finish step (without the grace: it assumes it is alone)."""
    from gapfill.repair.run import finish_interrupted  # the repair stack is heavy; workers only

    output_dir = settings.effective_output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(output_dir / LOCK_NAME) as held:
        if not held:
            return Recovered()
        recorded_before = dt.datetime.now(dt.UTC) - PUBLISH_GRACE
        finished = finish_interrupted(catalog, recorded_before=recorded_before)
        removed = _remove_stale_parts(catalog, output_dir)
    if finished or removed:
        log.warning(
            "recovered after a crash",
            extra={"finished": [str(p) for p in finished], "removed": [str(p) for p in removed]},
        )
    return Recovered(True, finished, removed)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Yields True while this process holds the lock, False (at once) if another one does.
    flock is released by the kernel when its holder dies, so a crashed worker never blocks it."""
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_parts(catalog: Catalog, output_dir: Path) -> list[Path]:
    """Delete the `.<clip>.*.part` files killed writers left in the camera folders, keeping the
    pending files of recorded clips."""
    from gapfill.repair.output import remove_stale_parts
    from gapfill.repair.run import pending_path

    with catalog.session() as session:
        keep = {pending_path(Path(p)) for p in clip_paths(session)}
    removed = []
    for folder in (output_dir, *(p for p in output_dir.iterdir() if p.is_dir())):
        removed += remove_stale_parts(folder, STALE_PART_SECONDS, keep)
    return removed
