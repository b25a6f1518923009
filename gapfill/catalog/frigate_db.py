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


def _read(path: Path, immutable: bool) -> list[tuple[object, ...]]:
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
        return connection.execute(
            f'SELECT {select} FROM "recordings" ORDER BY "camera", "start_time", "id"'
        ).fetchall()
    finally:
        connection.close()


def read_recordings(path: Path) -> list[FrigateRow]:
    """Every row of Frigate's `recordings` table, in camera and time order. A missing or
    unreadable database, or one without Frigate's table, is a one-line UserError."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise UserError(f"{path}: Frigate database not found")
    wal = path.with_name(path.name + "-wal")
    try:
        try:
            raw = _read(path, immutable=not wal.exists())
        except sqlite3.DatabaseError:
            if wal.exists():
                raise
            raw = _read(path, immutable=False)  # a Frigate began writing while we read
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: cannot read Frigate's database: {exc}") from None
    rows = []
    for values in raw:
        try:
            rows.append(_row(values))
        except (TypeError, ValueError, OverflowError, OSError):
            raise UserError(
                f"{path}: recordings row {values[0]!r} has a time or number Frigate never writes"
            ) from None
    return rows


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
