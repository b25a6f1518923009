"""frigate recordings

A recording catalogued from Frigate's own database (`gapfill ingest --frigate-db`) keeps Frigate's
row id, so a gap or a repair can be traced back to the row Frigate holds, and the motion and
tracked-object counts Frigate measured for the segment, so the repair queue can put activity
first. All three are NULL for recordings found only by walking the folders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frigate_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("frigate_motion", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("frigate_objects", sa.Integer(), nullable=True))
        batch_op.create_index("ix_recordings_frigate_id", ["frigate_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_frigate_id")
        batch_op.drop_column("frigate_objects")
        batch_op.drop_column("frigate_motion")
        batch_op.drop_column("frigate_id")
