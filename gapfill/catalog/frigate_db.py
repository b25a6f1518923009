"""Reading Frigate's own SQLite catalog (its `recordings` table), strictly read-only.

Frigate (frigate/models.py, class Recordings) keeps one row per segment file: id (text), camera,
path (absolute, as Frigate's container sees it), start_time and end_time (epoch seconds, REAL in
columns declared DATETIME), duration, motion, objects, segment_size (MB), dBFS. Frigate writes the
database in WAL mode while it runs.

How this stays harmless beside a running Frigate:
- the file is opened through a `file:...?mode=ro` URI: SQLite refuses every write on it;
- all rows are read in one statement and the connection is closed before any segment file is
  probed, so no read transaction (and no WAL snapshot that would hold Frigate's checkpoints back)
  lasts across an ingest;
- when the database has no `-wal` file, no writer has it open in WAL mode right now; a read-only
  open would still create the `-wal` and `-shm` files beside it, which is a write to Frigate's
  folder, so it is opened `immutable=1` instead (no locks, no side files). Should a Frigate start
  and write in those milliseconds, SQLite reports a malformed page and the read is done once more
  the ordinary read-only way.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from gapfill.errors import UserError

# Columns gapfill needs; the others (dBFS, segment_size) are read when present, for the report.
REQUIRED_COLUMNS = ("id", "camera", "path", "start_time", "end_time", "duration")
OPTIONAL_COLUMNS = ("motion", "objects", "segment_size", "dBFS")


@dataclass(frozen=True)
class FrigateRow:
    """One row of Frigate's `recordings` table."""

    id: str
    camera: str
    path: str
    start: dt.datetime
    end: dt.datetime
    duration: float
    motion: int | None
    objects: int | None
    segment_size: float | None
    dbfs: int | None

    @property
    def layout_tail(self) -> PurePosixPath:
        """The path below Frigate's recordings root: <YYYY-MM-DD>/<HH>/<camera>/<MM>.<SS>.mp4.

        Frigate records paths as its container sees them (/media/frigate/recordings/...); gapfill
        usually sees the same folder mounted elsewhere, so a file is found by this tail."""
        return PurePosixPath(*PurePosixPath(self.path).parts[-4:])


def _uri(path: Path, immutable: bool) -> str:
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    return f"file:{quote(str(path))}?{query}"


# Rows past a position: started after a time (Frigate indexes start_time) or inserted after a
# rowid (the table's own b-tree key: Frigate's id is text, so the table keeps an implicit rowid
# that grows with each insert).
_AFTER = 'WHERE "start_time" > ? OR rowid > ?'


def _read(
    path: Path, immutable: bool, after: tuple[float, int] | None = None
) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(_uri(path, immutable), uri=True, timeout=10)
    try:
        columns = {row[1] for row in connection.execute('PRAGMA table_info("recordings")')}
        if not columns:
            raise UserError(f"{path}: no `recordings` table; is this Frigate's frigate.db?")
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise UserError(
                f"{path}: Frigate's recordings table lacks column(s) {', '.join(missing)}"
            )
        wanted = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
        select = ", ".join(f'"{c}"' if c in columns else "NULL" for c in wanted)
        where = _AFTER if after is not None else ""
        return connection.execute(
            f'SELECT rowid, {select} FROM "recordings" {where} '
            'ORDER BY "camera", "start_time", "id"',
            after or (),
        ).fetchall()
    finally:
        connection.close()


def read_recordings(path: Path) -> list[FrigateRow]:
    """Every row of Frigate's `recordings` table, in camera and time order. A missing or
    unreadable database, or one without Frigate's table, is a one-line UserError."""
    return read_recordings_after(path, None).rows


@dataclass(frozen=True)
class FrigateRows:
    rows: list[FrigateRow]
    newest_start: float | None  # epoch seconds: the largest start_time read (None: no rows)
    newest_rowid: int | None  # the largest rowid read


def read_recordings_after(path: Path, after: tuple[float, int] | None) -> FrigateRows:
    """The rows of Frigate's `recordings` table that start after `after[0]` (epoch seconds) or
    were inserted after rowid `after[1]`; every row when `after` is None. Errors as
    read_recordings."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise UserError(f"{path}: Frigate database not found")
    wal = path.with_name(path.name + "-wal")
    try:
        try:
            raw = _read(path, not wal.exists(), after)
        except sqlite3.DatabaseError:
            if wal.exists():
                raise
            raw = _read(path, False, after)  # a Frigate began writing while we read
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: cannot read Frigate's database: {exc}") from None
    rows = []
    for values in raw:
        try:
            rows.append(_row(values[1:]))
        except (TypeError, ValueError, OverflowError, OSError):
            raise UserError(
                f"{path}: recordings row {values[1]!r} has a time or number Frigate never writes"
            ) from None
    if not rows:
        return FrigateRows([], None, None)
    newest_rowid = max(int(values[0]) for values in raw)  # type: ignore[call-overload]
    return FrigateRows(rows, max(r.start.timestamp() for r in rows), newest_rowid)


def _row(values: tuple[object, ...]) -> FrigateRow:
    rid, camera, where, start, end, duration, motion, objects, size, dbfs = values
    return FrigateRow(
        id=str(rid),
        camera=str(camera),
        path=str(where),
        start=dt.datetime.fromtimestamp(float(start), dt.UTC),  # type: ignore[arg-type]
        end=dt.datetime.fromtimestamp(float(end), dt.UTC),  # type: ignore[arg-type]
        duration=float(duration),  # type: ignore[arg-type]
        motion=None if motion is None else int(motion),  # type: ignore[call-overload]
        objects=None if objects is None else int(objects),  # type: ignore[call-overload]
        segment_size=None if size is None else float(size),  # type: ignore[arg-type]
        dbfs=None if dbfs is None else int(dbfs),  # type: ignore[call-overload]
    )


def check_readable(path: Path) -> None:
    """Open Frigate's database read-only and look at its `recordings` columns, reading no row: a
    start check. The same one-line UserError as read_recordings when it would fail."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise UserError(f"{path}: Frigate database not found")
    try:
        connection = sqlite3.connect(_uri(path, immutable=False), uri=True, timeout=10)
        try:
            columns = {row[1] for row in connection.execute('PRAGMA table_info("recordings")')}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: cannot read Frigate's database: {exc}") from None
    if not columns:
        raise UserError(f"{path}: no `recordings` table; is this Frigate's frigate.db?")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UserError(f"{path}: Frigate's recordings table lacks column(s) {', '.join(missing)}")
