"""The catalog schema: every table says why it exists, every column what it holds.

Integrity is in the schema, not only in the code that writes it:
- times are timezone-aware UTC everywhere (`UtcDateTime` refuses naive values);
- states are CHECK-constrained enumerations, so a typo can never become a new state;
- a defect can have at most one live repair job (partial unique index);
- the provenance chain cannot fork: `prev_hash` is unique, so two events can never claim the same
  predecessor, and `hash` is unique;
- originals are referenced by path + sha256 + size, so a changed file is detectable later.

The same metadata runs on SQLite (embedded default) and PostgreSQL (production); Alembic migrations
under migrations/ create exactly this schema (tests/test_catalog.py compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RECORDING_STATUSES = ("ok", "damaged", "unreadable")
DEFECT_KINDS = ("missing", "decode_error", "frozen", "black", "green", "blocky", "timestamp")
DEFECT_STATES = ("open", "queued", "repaired", "unrepairable", "ignored")
JOB_STATES = ("queued", "running", "done", "failed", "dead", "cancelled")
REVIEW_STATES = ("pending", "approved", "rejected")
ROLES = ("viewer", "engineer", "auditor", "admin")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC on the Python side.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is normalised to UTC
    before it is written and marked UTC when read. A naive datetime is a programming error: it is
    refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: catalog times must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# synthetic_clips: NULL in both timings (made before migration 0003), or a repair time at least
# as long as its fill. Spelled out with IS NOT NULL: a comparison with NULL would pass a CHECK.
REPAIR_SECONDS_CHECK = (
    "(repair_seconds IS NULL AND fill_seconds IS NULL) OR (repair_seconds IS NOT NULL "
    "AND fill_seconds IS NOT NULL AND repair_seconds >= fill_seconds)"
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Camera(Base):
    """A fixed camera of the plant. Recordings, defects and models hang off it."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The name used in recording paths (Frigate layout) and on the command line.
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # What the camera is set to deliver; `cadence_fps` is what it really delivers (learned by scan),
    # so a 9.6 fps camera on a 10 fps setting is not mistaken for one dropping frames.
    nominal_fps: Mapped[float | None] = mapped_column(Float)
    cadence_fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Root directory its segments were found under (informational; paths are on recordings).
    source_dir: Mapped[str | None] = mapped_column(Text)
    # The model repairs use for this camera: a fine-tuned child model, or NULL for the default.
    default_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", use_alter=True, name="fk_cameras_default_model_id_models")
    )
    # Per-camera detector threshold overrides (keys of DetectionSettings).
    detector_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    recordings: Mapped[list[Recording]] = relationship(back_populates="camera")


class Recording(Base):
    """One segment file as it was found on disk. The file itself is never modified by gapfill."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(_one_of("status", RECORDING_STATUSES), name="status"),
        CheckConstraint("end_time >= start_time", name="time_order"),
        Index("ix_recordings_camera_start", "camera_id", "start_time"),
        # Every watch tick asks for the recordings not scanned yet and for the newest scanned
        # file's mtime (the scan lag). Partial indexes answer both from the few rows that matter
        # instead of reading every recording the archive holds (migration 0007).
        Index(
            "ix_recordings_unscanned",
            "camera_id",
            "start_time",
            sqlite_where=text("scanned_at IS NULL"),
            postgresql_where=text("scanned_at IS NULL"),
        ),
        Index(
            "ix_recordings_scanned_mtime",
            "mtime_ns",
            sqlite_where=text("scanned_at IS NOT NULL"),
            postgresql_where=text("scanned_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    # Absolute path; unique so ingest is idempotent.
    path: Mapped[str] = mapped_column(Text, unique=True)
    # Wall-clock span the file covers (start from the layout or container metadata; end = start +
    # duration). Unreadable files get the span their name implies, with zero duration.
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime]
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    fps: Mapped[float | None] = mapped_column(Float)
    codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Identity of the bytes at ingest: a later re-hash that differs means the original was altered.
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    # Why the status is not "ok", in words a plant engineer can act on.
    status_reason: Mapped[str | None] = mapped_column(Text)
    ingested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # NULL until the detectors have run; scan picks recordings where this is NULL.
    scanned_at: Mapped[dt.datetime | None]
    # From Frigate's `recordings` table when it was the source (ingest --frigate-db): its row id,
    # and the motion and tracked-object counts it measured. NULL for a file found by the walk.
    frigate_id: Mapped[str | None] = mapped_column(String(64), index=True)
    frigate_motion: Mapped[int | None] = mapped_column(Integer)
    frigate_objects: Mapped[int | None] = mapped_column(Integer)

    camera: Mapped[Camera] = relationship(back_populates="recordings")


class WatchProgress(Base):
    """How far the daemon's watch has looked, so a restarted daemon resumes instead of looking at
    the whole archive again (gapfill/jobs/watch.py; migration 0006).

    One row per (recordings root, partition). A partition is one folder of the layout's time
    partitioning, Frigate's `<date>/<hour>`: once its hour is past (plus a margin) only a late or
    restored file can still appear in it, so it is listed again only once a day. The row with the
    empty partition stands for the root as a whole and holds where the reading of Frigate's
    database stopped when it is the source. Nothing here is evidence: deleting every row costs one
    listing of each partition, and no file is hashed again (the recordings rows say what is known).
    """

    __tablename__ = "watch_progress"
    __table_args__ = (
        UniqueConstraint("root", "partition", name="uq_watch_progress_root_partition"),
        # The daily reconcile asks for the partitions of a root not listed since a moment.
        Index("ix_watch_progress_root_looked", "root", "looked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The recordings root as configured (recordings_dirs), absolute: two roots can hold the same
    # partition names.
    root: Mapped[str] = mapped_column(Text)
    # "YYYY-MM-DD/HH" for a folder of Frigate's layout; "" for the root as a whole.
    partition: Mapped[str] = mapped_column(String(32))
    # When the partition's files were last all listed and compared with the catalog: by a tick
    # while the hour could still change, then by the daily reconcile. NULL: never listed in full.
    looked_at: Mapped[dt.datetime | None]
    # Frigate source only (the root's row): the newest start_time (epoch seconds, Frigate's own
    # unit, compared in its own query) and the highest rowid read from Frigate's `recordings`
    # table. A tick reads the rows past either mark, less an overlap for rows Frigate inserts late;
    # the rowid also catches a late row whose start is older than the overlap. NULL: nothing read.
    frigate_start_seen: Mapped[float | None] = mapped_column(Float)
    frigate_rowid_seen: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Defect(Base):
    """A span of a camera's timeline that is missing or damaged: exactly what a repair replaces."""

    __tablename__ = "defects"
    __table_args__ = (
        CheckConstraint(_one_of("kind", DEFECT_KINDS), name="kind"),
        CheckConstraint(_one_of("state", DEFECT_STATES), name="state"),
        CheckConstraint("end_time > start_time", name="time_order"),
        # Re-scanning must not duplicate: one defect per camera, kind and start.
        UniqueConstraint("camera_id", "kind", "start_time", name="uq_defects_camera_kind_start"),
        Index("ix_defects_camera_start", "camera_id", "start_time"),
        Index("ix_defects_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    # NULL for a missing segment: there is no file to point at.
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))
    kind: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime]
    # Frame indices within the recording, end exclusive; NULL when there is no recording.
    frame_start: Mapped[int | None] = mapped_column(Integer)
    frame_end: Mapped[int | None] = mapped_column(Integer)
    # Which detector found it and the figures it saw (thresholds, scores), for people to judge.
    detector: Mapped[str] = mapped_column(String(64))
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")
    # Why a defect is unrepairable or ignored.
    state_reason: Mapped[str | None] = mapped_column(Text)
    # How much happened around the span, 0 (still) to 1 (busy), from Frigate's motion and object
    # counts on the recordings flanking it (gapfill/jobs/activity.py has the formula); NULL while
    # unknown: not yet queued, or no flanking recording carries Frigate's counts (migration 0005).
    activity: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RepairJob(Base):
    """One attempt-tracked unit of repair work, claimed by one worker at a time."""

    __tablename__ = "repair_jobs"
    __table_args__ = (
        CheckConstraint(_one_of("state", JOB_STATES), name="state"),
        Index("ix_repair_jobs_state_not_before", "state", "not_before"),
        # The claim of a queued job walks this in order and stops at the first one due: busiest
        # periods first, then the longest waiting (migration 0005).
        Index("ix_repair_jobs_claim_order", "state", "claim_rank", "not_before", "id"),
        # At most one live job per defect, whatever races the workers run.
        Index(
            "uq_repair_jobs_live_defect",
            "defect_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    defect_id: Mapped[int] = mapped_column(ForeignKey("defects.id"))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    # Worker identity (host:pid) holding the job, and the lease it must keep renewing.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[dt.datetime | None]
    lease_expires_at: Mapped[dt.datetime | None]
    # Backoff: the job is not claimable before this time.
    not_before: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Claim order, smaller first: 1 - the defect's activity when queued (0.5 when unknown). Kept
    # as ascending stillness rather than activity so that one ascending index walk gives "most
    # active, then oldest": an index cannot serve activity DESC, not_before ASC on both
    # databases without a sort of every queued job. 0.5 for jobs queued before migration 0005.
    claim_rank: Mapped[float] = mapped_column(Float, default=0.5, server_default=text("0.5"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


ATTEMPT_OUTCOMES = ("retrying", "failed", "dead")


class RepairAttempt(Base):
    """One failed attempt of a repair job, appended when it fails (migration 0008). The job row
    keeps only its latest error; these keep each attempt's, so the plant hears of every failure
    as it happens (an MQTT event each, docs/mqtt.md), not only of the job given up on at last."""

    __tablename__ = "repair_attempts"
    __table_args__ = (CheckConstraint(_one_of("outcome", ATTEMPT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("repair_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)  # 1 for the job's first attempt
    max_attempts: Mapped[int] = mapped_column(Integer)
    # What became of the job: back in the queue ("retrying", not before `retry_at`), or given up
    # on ("failed": not worth retrying; "dead": attempts used up).
    outcome: Mapped[str] = mapped_column(String(16))
    retry_at: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Model(Base):
    """A MALT checkpoint gapfill may use; repairs name the exact file by sha256."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # Hash of the weights file: the provenance of every clip names it.
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    # A fine-tuned model points at the model it started from, and at the camera it was tuned for.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"))
    training_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyntheticClip(Base):
    """An output file: real context around a reconstructed span, flagged as synthetic."""

    __tablename__ = "synthetic_clips"
    __table_args__ = (
        CheckConstraint(_one_of("review_state", REVIEW_STATES), name="review_state"),
        Index("ix_synthetic_clips_camera_start", "camera_id", "start_time"),
        Index("ix_synthetic_clips_review_state", "review_state", "created_at"),
        # The review queue and the clip list: filter, then walk in (start_time, id) order and
        # stop after one page (migration 0002).
        Index("ix_synthetic_clips_review_start", "review_state", "start_time", "id"),
        Index(
            "ix_synthetic_clips_review_camera_start",
            "review_state",
            "camera_id",
            "start_time",
            "id",
        ),
        Index("ix_synthetic_clips_start", "start_time", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("repair_jobs.id"))
    defect_id: Mapped[int] = mapped_column(ForeignKey("defects.id"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    path: Mapped[str] = mapped_column(Text, unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    # Everything needed to redo the fill: backend, steps, context lengths, etc.
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # The id written into the file's metadata and C2PA manifest, linking file and catalog.
    provenance_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Wall-clock span of the whole clip, context included.
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime]
    review_state: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What the repair cost, measured by the repair itself (gapfill.repair.run), so the pilot
    # report's compute figure covers every clip however it was made (queue, `gapfill repair`,
    # demo); the backend and provider it ran on are in `parameters`. fill_seconds: wall seconds
    # the model spent generating the synthetic frames (not reading context, not writing the file).
    # repair_seconds: wall seconds of the whole repair of the defect (plan, read, fill, compose,
    # encode, sign, up to the transaction that records the clip). NULL in both: not measured,
    # the clip was made before migration 0003. The CHECKs are column constraints, not table ones,
    # so that 0003 adds them to a populated SQLite table by ALTER TABLE instead of rebuilding it.
    fill_seconds: Mapped[float | None] = mapped_column(
        Float, CheckConstraint("fill_seconds >= 0", name="fill_seconds")
    )
    repair_seconds: Mapped[float | None] = mapped_column(
        Float, CheckConstraint(REPAIR_SECONDS_CHECK, name="repair_seconds")
    )

    spans: Mapped[list[SyntheticSpan]] = relationship(back_populates="clip")


class SyntheticSpan(Base):
    """Exactly which frames of a clip are synthetic, so "which frames are synthetic" is one query.

    camera_id is repeated from the clip on purpose: the audit query filters spans by camera and
    time without a join through clips.
    """

    __tablename__ = "synthetic_spans"
    __table_args__ = (
        CheckConstraint("frame_end > frame_start", name="frame_order"),
        CheckConstraint("end_time > start_time", name="time_order"),
        Index("ix_synthetic_spans_camera_start", "camera_id", "start_time"),
        # A page of clips loads its spans by clip id (migration 0002).
        Index("ix_synthetic_spans_clip_frame", "clip_id", "frame_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("synthetic_clips.id"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    defect_id: Mapped[int | None] = mapped_column(ForeignKey("defects.id"))
    # Frame indices within the clip file, end exclusive.
    frame_start: Mapped[int] = mapped_column(Integer)
    frame_end: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[dt.datetime]
    end_time: Mapped[dt.datetime]

    clip: Mapped[SyntheticClip] = relationship(back_populates="spans")


class ProvenanceEvent(Base):
    """Append-only, hash-chained record of everything that made or judged a synthetic frame.

    hash = SHA-256(prev_hash || canonical JSON of (seq, created_at, action, actor, subject,
    payload)).
    Editing or deleting a row breaks the chain at that row; uniqueness of prev_hash forbids forks.
    """

    __tablename__ = "provenance_events"
    __table_args__ = (Index("ix_provenance_events_subject", "subject_type", "subject_id"),)

    # Gap-free sequence assigned by the writer under a lock (a database sequence can skip).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime]
    # What happened: ingest, model, repair, review, key, ...
    action: Mapped[str] = mapped_column(String(32))
    # Who did it: a user name, or "system:<host>" for unattended work.
    actor: Mapped[str] = mapped_column(String(128))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    # Canonical JSON text exactly as hashed (kept as text, not JSON, so the bytes never change).
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class User(Base):
    """A person or service that uses the API; every write is attributed to one."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the token, so a person can tell their tokens apart without the secret.
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")
