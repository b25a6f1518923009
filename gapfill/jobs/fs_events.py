"""Filesystem events as hints for the watch: which folders changed since the last tick.

watchdog listens to the kernel (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW on
Windows). Only the live hour folders are watched, recursively: watching a whole archive would
mean one kernel watch per folder and a walk of every folder to set them up.

Events are only hints. They can be lost (a full kernel queue), a network filesystem has none, and
a folder is watched only from the moment it is scheduled. So the watch lists a folder in full when
it starts being watched, every `FULL_LOOK_EVERY` ticks anyway, and whenever the observer is not
running; in between it lists only the folders events named. `FsHints.start` returns None where
watchdog cannot run, and the watch then lists every live folder each tick.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("gapfill.jobs.fs_events")

# A tick lists every live folder in full at least this often, events or not: a lost event costs
# at most this many ticks of delay.
FULL_LOOK_EVERY = 10


class FsHints:
    """Folders touched since the last `take()`, from a watchdog observer of the live folders."""

    def __init__(self, observer: Any) -> None:
        self._observer = observer
        self._watches: dict[Path, Any] = {}
        self._dirty: set[Path] = set()
        self._lock = threading.Lock()
        self.handler = _Handler(self)

    @classmethod
    def start(cls) -> FsHints | None:
        """An observer running in its own thread, or None where watchdog cannot run here."""
        try:
            observer = Observer()
            observer.daemon = True
            observer.start()
        except Exception as exc:  # e.g. no inotify instance left for this user
            log.warning(
                "filesystem events unavailable; listing live folders each tick",
                extra={"problem": f"{type(exc).__name__}: {exc}"},
            )
            return None
        return cls(observer)

    def alive(self) -> bool:
        return bool(self._observer.is_alive())

    def watch_only(self, folders: list[Path]) -> set[Path]:
        """Watch exactly `folders` (those that exist), recursively; returns the folders whose
        watch starts now: nothing is known of what happened in them before, list them in full."""
        wanted = {f for f in folders if f.is_dir()}
        for folder in set(self._watches) - wanted:
            with contextlib.suppress(KeyError, OSError):  # already gone with its folder
                self._observer.unschedule(self._watches.pop(folder))
        started = set()
        for folder in wanted - set(self._watches):
            try:
                self._watches[folder] = self._observer.schedule(
                    self.handler, str(folder), recursive=True
                )
            except OSError as exc:  # e.g. out of inotify watches: that folder gets listed
                log.warning("cannot watch folder", extra={"path": str(folder), "problem": str(exc)})
                continue
            started.add(folder)
        return started

    def watched(self) -> set[Path]:
        return set(self._watches)

    def take(self) -> set[Path]:
        """The folders events named since the last call (each the folder a file changed in, or a
        folder created), and forget them."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return dirty

    def note(self, folder: Path) -> None:
        with self._lock:
            self._dirty.add(folder)

    def close(self) -> None:
        try:
            self._observer.stop()
            self._observer.join(5)
        except RuntimeError:  # never started
            pass


# Events that only say a file was read; inotify reports them too.
_READS = {"opened", "closed_no_write"}


class _Handler(FileSystemEventHandler):
    """Turns every event into the folder to look at."""

    def __init__(self, hints: FsHints) -> None:
        super().__init__()
        self._hints = hints

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _READS:
            return  # ingest and scan reading a file are not changes (and would loop)
        for where in (event.src_path, getattr(event, "dest_path", "")):
            if not where:
                continue
            path = Path(os.fsdecode(where))
            self._hints.note(path if event.is_directory else path.parent)
