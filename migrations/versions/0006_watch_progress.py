"""watch progress

The daemon's watch keeps how far it has looked in the catalog instead of in memory (issue 29,
item 4): one row per recordings root and time partition (Frigate's `<date>/<hour>` folder) with
when it was last listed in full, and on the root's own row where the reading of Frigate's database
stopped. A new table: nothing existing changes, and an empty table only means one more listing of
each partition.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("partition", sa.String(length=32), nullable=False),
        sa.Column("looked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frigate_start_seen", sa.Float(), nullable=True),
        sa.Column("frigate_rowid_seen", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_progress")),
        sa.UniqueConstraint("root", "partition", name="uq_watch_progress_root_partition"),
    )
    with op.batch_alter_table("watch_progress", schema=None) as batch_op:
        batch_op.create_index("ix_watch_progress_root_looked", ["root", "looked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("watch_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_progress_root_looked")
    op.drop_table("watch_progress")
