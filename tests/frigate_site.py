"""A Frigate installation for tests: segment files that `gapfill synth` writes in Frigate's folder
layout, and a SQLite database with Frigate's `recordings` table listing them.

The schema is Frigate's own, as its peewee migrations build it (github.com/blakeblackshear/frigate):
- migrations/003_create_recordings_table.py (commit 01e2d209d0a6): the table, its camera index,
  unique path index and start/end index;
- migrations/006_add_motion_active_objects.py (commit 0d3f1ae7b1f8): objects, motion INTEGER NULL;
- migrations/012_add_segment_size.py (commit 09cc368c4e72): segment_size REAL default 0 (MB);
- migrations/018_add_dbfs.py (commit 02b79866d373): dBFS INTEGER NULL;
- migrations/020_update_index_recordings.py (commit 4f7dcb4cfa42): the camera/time indexes;
matching frigate/models.py, class Recordings (commit 00016b7499f6). Frigate stores start_time
and end_time as epoch seconds (REAL) in the columns declared DATETIME, paths as its container
sees them (/media/frigate/recordings/...), ids as "<start epoch>-<6 random characters>", and runs
the database in WAL mode.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

FRIGATE_SCHEMA = [
    'CREATE TABLE IF NOT EXISTS "recordings" ("id" VARCHAR(30) NOT NULL PRIMARY KEY, '
    '"camera" VARCHAR(20) NOT NULL, "path" VARCHAR(255) NOT NULL, "start_time" DATETIME NOT NULL, '
    '"end_time" DATETIME NOT NULL, "duration" REAL NOT NULL)',
    'CREATE INDEX IF NOT EXISTS "recordings_camera" ON "recordings" ("camera")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "recordings_path" ON "recordings" ("path")',
    'ALTER TABLE "recordings" ADD COLUMN "objects" INTEGER',
    'ALTER TABLE "recordings" ADD COLUMN "motion" INTEGER',
    'ALTER TABLE "recordings" ADD COLUMN "segment_size" REAL NOT NULL DEFAULT 0',
    'ALTER TABLE "recordings" ADD COLUMN "dBFS" INTEGER',
    'CREATE INDEX "recordings_camera_start_time_end_time" ON "recordings" '
    '("camera", "start_time" DESC, "end_time" DESC)',
    'CREATE INDEX "recordings_api_recordings_summary" ON "recordings" '
    '("camera", "start_time" DESC, "duration", "motion", "objects")',
    'CREATE INDEX "recordings_start_time" ON "recordings" ("start_time")',
]
FRIGATE_ROOT = "/media/frigate/recordings"


@dataclass(frozen=True)
class Segment:
    id: str
    camera: str
    relative: str  # <date>/<hour>/<camera>/<MM>.<SS>.mp4
    start: float
    end: float


def create_frigate_db(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=wal")  # as Frigate runs it
    for statement in FRIGATE_SCHEMA:
        connection.execute(statement)
    connection.commit()
    connection.close()


def list_segments(root: Path, segment_seconds: float, seed: int = 0) -> list[Segment]:
    """Every segment file under `root` (Frigate layout) as Frigate would list it."""
    rng = random.Random(seed)
    segments = []
    for file in sorted(root.glob("*/*/*/*.mp4")):
        date, hour, camera, name = file.relative_to(root).parts
        minute, second = name.removesuffix(".mp4").split(".")
        start = dt.datetime.strptime(f"{date} {hour}:{minute}:{second}", "%Y-%m-%d %H:%M:%S")
        epoch = start.replace(tzinfo=dt.UTC).timestamp()
        suffix = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6))
        segments.append(
            Segment(
                f"{epoch}-{suffix}",
                camera,
                file.relative_to(root).as_posix(),
                epoch,
                epoch + segment_seconds,
            )
        )
    return segments


def insert_rows(database: Path, segments: list[Segment], seed: int = 0) -> None:
    rng = random.Random(seed)
    connection = sqlite3.connect(database)
    connection.executemany(
        'INSERT INTO "recordings" ("id", "camera", "path", "start_time", "end_time", "duration", '
        '"objects", "motion", "segment_size", "dBFS") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
            (
                s.id,
                s.camera,
                f"{FRIGATE_ROOT}/{s.relative}",
                s.start,
                s.end,
                s.end - s.start,
                rng.randrange(0, 3),
                rng.randrange(0, 500),
                0.07,
                -40,
            )
            for s in segments
        ],
    )
    connection.commit()
    connection.close()


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` by relative path: any write, new file or removal
    shows."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
