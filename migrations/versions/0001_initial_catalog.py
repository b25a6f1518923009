"""initial catalog

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("nominal_fps", sa.Float(), nullable=True),
        sa.Column("cadence_fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("source_dir", sa.Text(), nullable=True),
        sa.Column("default_model_id", sa.Integer(), nullable=True),
        sa.Column("detector_overrides", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
        sa.UniqueConstraint("name", name=op.f("uq_cameras_name")),
    )
    op.create_table(
        "provenance_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_provenance_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_provenance_events_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_provenance_events_prev_hash")),
    )
    with op.batch_alter_table("provenance_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provenance_events_subject", ["subject_type", "subject_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('viewer', 'engineer', 'auditor', 'admin')", name=op.f("ck_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("training_summary", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_models_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["models.id"], name=op.f("fk_models_parent_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    # cameras.default_model_id and models.camera_id point at each other: the first FK is added
    # once both tables exist (batch mode, because SQLite cannot ALTER TABLE ADD CONSTRAINT).
    with op.batch_alter_table("cameras") as batch_op:
        batch_op.create_foreign_key(
            "fk_cameras_default_model_id_models", "models", ["default_model_id"], ["id"]
        )
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("codec", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('ok', 'damaged', 'unreadable')", name=op.f("ck_recordings_status")
        ),
        sa.CheckConstraint("end_time >= start_time", name=op.f("ck_recordings_time_order")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_recordings_camera_id_cameras")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("path", name=op.f("uq_recordings_path")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recordings_camera_start", ["camera_id", "start_time"], unique=False
        )

    op.create_table(
        "defects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frame_start", sa.Integer(), nullable=True),
        sa.Column("frame_end", sa.Integer(), nullable=True),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('missing', 'decode_error', 'frozen', 'black', 'green', 'blocky', "
            "'timestamp')",
            name=op.f("ck_defects_kind"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'queued', 'repaired', 'unrepairable', 'ignored')",
            name=op.f("ck_defects_state"),
        ),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_defects_time_order")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_defects_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_defects_recording_id_recordings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_defects")),
        sa.UniqueConstraint("camera_id", "kind", "start_time", name="uq_defects_camera_kind_start"),
    )
    with op.batch_alter_table("defects", schema=None) as batch_op:
        batch_op.create_index("ix_defects_camera_start", ["camera_id", "start_time"], unique=False)
        batch_op.create_index("ix_defects_state", ["state"], unique=False)

    op.create_table(
        "repair_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("defect_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'dead', 'cancelled')",
            name=op.f("ck_repair_jobs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["defect_id"], ["defects.id"], name=op.f("fk_repair_jobs_defect_id_defects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_jobs")),
    )
    with op.batch_alter_table("repair_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repair_jobs_state_not_before", ["state", "not_before"], unique=False
        )
        batch_op.create_index(
            "uq_repair_jobs_live_defect",
            ["defect_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('queued', 'running')"),
            postgresql_where=sa.text("state IN ('queued', 'running')"),
        )

    op.create_table(
        "synthetic_clips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("defect_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("provenance_id", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_state", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "review_state IN ('pending', 'approved', 'rejected')",
            name=op.f("ck_synthetic_clips_review_state"),
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_synthetic_clips_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["defect_id"], ["defects.id"], name=op.f("fk_synthetic_clips_defect_id_defects")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["repair_jobs.id"], name=op.f("fk_synthetic_clips_job_id_repair_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_synthetic_clips_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_synthetic_clips_reviewed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synthetic_clips")),
        sa.UniqueConstraint("path", name=op.f("uq_synthetic_clips_path")),
        sa.UniqueConstraint("provenance_id", name=op.f("uq_synthetic_clips_provenance_id")),
    )
    with op.batch_alter_table("synthetic_clips", schema=None) as batch_op:
        batch_op.create_index(
            "ix_synthetic_clips_camera_start", ["camera_id", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_synthetic_clips_review_state", ["review_state", "created_at"], unique=False
        )

    op.create_table(
        "synthetic_spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("defect_id", sa.Integer(), nullable=True),
        sa.Column("frame_start", sa.Integer(), nullable=False),
        sa.Column("frame_end", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_synthetic_spans_time_order")),
        sa.CheckConstraint("frame_end > frame_start", name=op.f("ck_synthetic_spans_frame_order")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_synthetic_spans_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["clip_id"],
            ["synthetic_clips.id"],
            name=op.f("fk_synthetic_spans_clip_id_synthetic_clips"),
        ),
        sa.ForeignKeyConstraint(
            ["defect_id"], ["defects.id"], name=op.f("fk_synthetic_spans_defect_id_defects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synthetic_spans")),
    )
    with op.batch_alter_table("synthetic_spans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_synthetic_spans_camera_start", ["camera_id", "start_time"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch_op:
        batch_op.drop_constraint("fk_cameras_default_model_id_models", type_="foreignkey")
    with op.batch_alter_table("synthetic_spans", schema=None) as batch_op:
        batch_op.drop_index("ix_synthetic_spans_camera_start")

    op.drop_table("synthetic_spans")
    with op.batch_alter_table("synthetic_clips", schema=None) as batch_op:
        batch_op.drop_index("ix_synthetic_clips_review_state")
        batch_op.drop_index("ix_synthetic_clips_camera_start")

    op.drop_table("synthetic_clips")
    with op.batch_alter_table("repair_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_repair_jobs_live_defect",
            sqlite_where=sa.text("state IN ('queued', 'running')"),
            postgresql_where=sa.text("state IN ('queued', 'running')"),
        )
        batch_op.drop_index("ix_repair_jobs_state_not_before")

    op.drop_table("repair_jobs")
    with op.batch_alter_table("defects", schema=None) as batch_op:
        batch_op.drop_index("ix_defects_state")
        batch_op.drop_index("ix_defects_camera_start")

    op.drop_table("defects")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_camera_start")

    op.drop_table("recordings")
    op.drop_table("models")
    op.drop_table("api_tokens")
    op.drop_table("users")
    with op.batch_alter_table("provenance_events", schema=None) as batch_op:
        batch_op.drop_index("ix_provenance_events_subject")

    op.drop_table("provenance_events")
    op.drop_table("cameras")
