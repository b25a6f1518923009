"""Ingest: walk a recordings tree and catalogue every segment file, exactly once.

- Idempotent: a file already catalogued with the same size and mtime is skipped without re-hashing
  (one with the same size but a new mtime is re-hashed once, to tell a touched file from a new
  one; a touched file's new mtime is then kept).
- Never a crash on bad files: a file PyAV cannot read becomes a recording with status `unreadable`
  and the reason; a directory that cannot be listed or a symlink loop is reported and skipped.
- A file that changes while it is read (still being written) is left for the next run: its size
  and mtime are taken before and after hashing and probing, and must agree.
- A catalogued original whose bytes changed since ingest is reported, and its row is left as it
  was: the row is the evidence `gapfill verify` compares against.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Recording
from gapfill.catalog.queries.cameras import camera_by_name
from gapfill.catalog.queries.recordings import recording_by_path
from gapfill.errors import UserError
from gapfill.media.probe import Probe, probe, sha256_file
from gapfill.provenance.chain import append_event
from gapfill.text import is_utf8

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".ts", ".avi"}
Layout = Literal["frigate", "flat"]

# Frigate-like layout: <root>/<YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4, times in UTC.
_FRIGATE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})/(?P<hour>\d{2})/(?P<camera>[^/]+)/(?P<min>\d{2})\.(?P<sec>\d{2})"
    r"\.[A-Za-z0-9]+$"
)
# Flat layout: a time in the file name, e.g. press-01_20260105T065900Z.mp4 or 2026-01-05_06-59-00.
_NAME_TIME = re.compile(
    r"(?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})[T_ -]?"
    r"(?P<h>\d{2})[:\-]?(?P<mi>\d{2})[:\-]?(?P<s>\d{2})"
)
# Container creation times at or before this are placeholders written by muxers, not real times.
_PLACEHOLDER_TIME = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    changed_originals: list[tuple[str, str]] = field(default_factory=list)

    def problems(self) -> Iterator[tuple[str, str, str]]:
        """(severity, path, reason) for each file a person should hear about."""
        for path, reason in self.unreadable:
            yield "unreadable", path, reason
        for path, reason in self.skipped:
            yield "skipped", path, reason
        for path, reason in self.changed_originals:
            yield "changed", path, reason


@dataclass(frozen=True)
class _Placement:
    camera: str
    start: dt.datetime | None  # None: take it from the container or the file time


def _place(path: Path, root: Path, layout: Layout, camera: str | None) -> _Placement | None:
    relative = path.relative_to(root).as_posix()
    if layout == "frigate":
        match = _FRIGATE.search(relative)
        if not match:
            return None
        try:
            start = dt.datetime.strptime(
                f"{match['date']} {match['hour']}:{match['min']}:{match['sec']}",
                "%Y-%m-%d %H:%M:%S",
            ).replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        return _Placement(camera or match["camera"], start)
    name_time = _NAME_TIME.search(path.stem)
    start = None
    if name_time:
        try:
            start = dt.datetime(
                *(int(name_time[k]) for k in ("y", "mo", "d", "h", "mi", "s")), tzinfo=dt.UTC
            )
        except ValueError:
            start = None
    return _Placement(camera or path.parent.name, start)


def walk_files(root: Path, on_error: Callable[[str, str], None]) -> Iterator[Path]:
    """Video files under `root`, following directory symlinks but never around a loop."""
    seen: set[tuple[int, int]] = set()

    def visit(directory: Path) -> Iterator[Path]:
        try:
            info = directory.stat()
        except OSError as exc:
            on_error(str(directory), exc.strerror or str(exc))
            return
        key = (info.st_dev, info.st_ino)
        if key in seen:
            on_error(str(directory), "symlink loop; not followed again")
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            on_error(str(directory), exc.strerror or str(exc))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError as exc:
                on_error(entry.path, exc.strerror or str(exc))
                continue
            if is_dir:
                yield from visit(path)
            elif is_file and path.suffix.lower() in VIDEO_SUFFIXES:
                yield path
            elif entry.is_symlink() and not path.exists():
                on_error(entry.path, "broken symlink or symlink loop")

    yield from visit(root)


def recordings_root(root: Path) -> Path:
    """`root` as ingest names the files under it; a UserError unless it is a directory. The CLI
    calls it before it shows progress, so a wrong path gets the error alone. Resolved, so that
    dir/../dir or a symlink to the tree names each file as before and re-ingest adds nothing."""
    root = root.expanduser().resolve()
    if not root.exists():
        raise UserError(f"{root}: no such directory")
    if not root.is_dir():
        raise UserError(f"{root}: not a directory")
    return root


def check_camera_name(name: str) -> None:
    """A camera name given on the command line, refused unless it is one plain folder name:
    repaired clips are written under <output_dir>/<camera>/, so '..' or 'a/b' would escape it."""
    bad = name in ("", ".", "..") or any(c in name for c in "/\\\0")
    if bad or len(name) > 128 or not is_utf8(name):
        raise UserError(
            f"--camera: {name!r} is not a camera name (one UTF-8 folder name of at most 128 "
            "characters, without '/' or '\\', and not '.' or '..')"
        )


def ingest(
    catalog: Catalog,
    root: Path,
    layout: Layout = "frigate",
    camera: str | None = None,
    progress: Callable[[Path], None] | None = None,
) -> IngestReport:
    """Catalogue every video file under `root`. Each file is committed on its own, so an
    interrupted ingest keeps what it finished and the next run picks up the rest."""
    root = recordings_root(root)
    if camera is not None:
        check_camera_name(camera)
    report = IngestReport()
    actor = f"system:{socket.gethostname()}"
    for path in walk_files(root, lambda p, why: report.skipped.append((p, why))):
        if progress:
            progress(path)
        if not is_utf8(str(path)):
            # The catalog stores text; shown with the raw bytes escaped, as ls -b would.
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            report.skipped.append((shown, "file name is not valid UTF-8; rename it to ingest it"))
            continue
        placement = _place(path, root, layout, camera)
        if placement is None:
            report.skipped.append((str(path), f"name does not follow the {layout} layout"))
            continue
        # Another ingest of the same tree can catalogue this file, or create its camera, between
        # our look-up and our insert: look again and the file is found as catalogued. A file can
        # lose at most those two races, so a third failure is a real error.
        for attempt in (1, 2, 3):
            try:
                with catalog.session() as session:
                    _ingest_file(session, path, placement, report, actor)
                break
            except IntegrityError:
                if attempt == 3:
                    raise
                log.info(
                    "lost a race with another ingest; looking again", extra={"path": str(path)}
                )
    return report


def _hash_or_skip(path: Path, report: IngestReport) -> str | None:
    """The file's sha256, or None with the file reported as skipped when it cannot be read."""
    try:
        return sha256_file(path)
    except OSError as exc:
        report.skipped.append((str(path), exc.strerror or str(exc)))
        return None


def _report_change(
    path: Path, existing: Recording, seen: os.stat_result, report: IngestReport
) -> None:
    """A catalogued original whose size or mtime no longer match its row: say what changed."""
    size = seen.st_size
    keeps = "catalog keeps the original record"
    if size != existing.size_bytes:
        report.changed_originals.append(
            (str(path), f"changed since ingest (size {existing.size_bytes} -> {size}); {keeps}")
        )
        return
    # Same size, new mtime: only the bytes tell a replaced file from a touched one. Rare enough
    # to hash here, and "size 1234 -> 1234" would leave the operator guessing what changed.
    digest = _hash_or_skip(path, report)
    if digest is None:
        return
    if digest == existing.sha256:  # touched or copied back unchanged: the same recording
        # Its new mtime is remembered, so the next ingest skips it without hashing it again. The
        # sha256 is the original's identity (and the chain's); the mtime only spares re-reading.
        existing.mtime_ns = seen.st_mtime_ns
        report.unchanged += 1
        return
    report.changed_originals.append(
        (
            str(path),
            f"content changed since ingest although the size is the same ({size} bytes): "
            f"sha256 now {digest[:16]}..., catalog {existing.sha256[:16]}...; {keeps}",
        )
    )


def _ingest_file(
    session: Session, path: Path, placement: _Placement, report: IngestReport, actor: str
) -> None:
    try:
        before = path.stat()
    except OSError as exc:
        report.skipped.append((str(path), exc.strerror or str(exc)))
        return
    existing = recording_by_path(session, str(path))
    if existing is not None:
        if existing.size_bytes == before.st_size and existing.mtime_ns == before.st_mtime_ns:
            report.unchanged += 1
        else:
            _report_change(path, existing, before, report)
        return

    digest = _hash_or_skip(path, report)
    if digest is None:
        return
    facts = probe(path)
    try:
        after = path.stat()
    except OSError as exc:  # removed while it was read, e.g. by the recorder's retention
        report.skipped.append((str(path), f"gone while being read: {exc.strerror or exc}"))
        return
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        report.skipped.append((str(path), "still being written; left for the next run"))
        return

    try:
        start = _start_time(placement, facts, before.st_mtime)
        end = start + dt.timedelta(seconds=facts.duration_s)
    except (OverflowError, ValueError, OSError):  # e.g. a year-9999 name or a wild mtime
        report.skipped.append(
            (str(path), "start or end time is outside the years 1 to 9999; not catalogued")
        )
        return
    cam = _camera(session, placement.camera, path, facts)
    status, reason = ("unreadable", facts.error) if facts.error else ("ok", None)
    recording = Recording(
        camera_id=cam.id,
        path=str(path),
        start_time=start,
        end_time=end,
        duration_s=facts.duration_s,
        frame_count=facts.frame_count,
        fps=facts.fps,
        codec=facts.codec,
        width=facts.width,
        height=facts.height,
        size_bytes=before.st_size,
        mtime_ns=before.st_mtime_ns,
        sha256=digest,
        status=status,
        status_reason=reason,
    )
    session.add(recording)
    session.flush()
    append_event(
        session,
        "ingest",
        actor,
        "recording",
        recording.id,
        {
            "path": str(path),
            "sha256": digest,
            "size_bytes": before.st_size,
            "camera": placement.camera,
            "start_time": start.isoformat(),
            "status": status,
        },
    )
    if facts.error:
        report.unreadable.append((str(path), facts.error))
    report.added.append(str(path))
    log.info("ingested", extra={"path": str(path), "recording_id": recording.id})


def _start_time(placement: _Placement, facts: Probe, mtime: float) -> dt.datetime:
    if placement.start is not None:
        return placement.start
    if facts.creation_time is not None and facts.creation_time > _PLACEHOLDER_TIME:
        return facts.creation_time
    # Last resort: a recorder closes the file when the segment ends.
    return dt.datetime.fromtimestamp(mtime, dt.UTC) - dt.timedelta(seconds=facts.duration_s)


def _camera(session: Session, name: str, path: Path, facts: Probe) -> Camera:
    camera = camera_by_name(session, name)
    if camera is None:
        camera = Camera(name=name, source_dir=str(path.parent))
        session.add(camera)
    # The first readable file tells what the camera is set to deliver.
    if camera.nominal_fps is None and facts.fps:
        camera.nominal_fps = round(facts.fps, 3)
        camera.width, camera.height = facts.width, facts.height
    session.flush()
    return camera


def ingest_file(
    catalog: Catalog,
    path: Path,
    camera: str,
    start: dt.datetime,
    report: IngestReport,
    actor: str | None = None,
) -> None:
    """Catalogue one file whose camera and start time another catalog states (Frigate's
    database, gapfill/frigate_ingest.py), as `ingest` catalogues a file it walked to."""
    placement = _Placement(camera, start)
    actor = actor or f"system:{socket.gethostname()}"
    for attempt in (1, 2, 3):  # races with another ingest, as in `ingest`
        try:
            with catalog.session() as session:
                _ingest_file(session, path, placement, report, actor)
            return
        except IntegrityError:
            if attempt == 3:
                raise
