"""review queue indexes

The review queue lists pending clips oldest first, a page at a time, optionally for one camera;
with thousands of clips that must be an index walk that stops after one page, not a sort of every
pending clip. The clip list loads its spans by clip id, which had no index at all.

id is the last column of each clip index: it breaks ties of start_time, so the order (and the
keyset cursor built on it) is total; SQLite appends the rowid anyway, PostgreSQL does not.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("synthetic_clips", schema=None) as batch_op:
        batch_op.create_index(
            "ix_synthetic_clips_review_start", ["review_state", "start_time", "id"], unique=False
        )
        batch_op.create_index(
            "ix_synthetic_clips_review_camera_start",
            ["review_state", "camera_id", "start_time", "id"],
            unique=False,
        )
        batch_op.create_index("ix_synthetic_clips_start", ["start_time", "id"], unique=False)
    with op.batch_alter_table("synthetic_spans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_synthetic_spans_clip_frame", ["clip_id", "frame_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("synthetic_spans", schema=None) as batch_op:
        batch_op.drop_index("ix_synthetic_spans_clip_frame")
    with op.batch_alter_table("synthetic_clips", schema=None) as batch_op:
        batch_op.drop_index("ix_synthetic_clips_start")
        batch_op.drop_index("ix_synthetic_clips_review_camera_start")
        batch_op.drop_index("ix_synthetic_clips_review_start")
