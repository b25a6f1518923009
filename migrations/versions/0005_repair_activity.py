"""repair activity

Repairs of the busiest periods come first (issue 29, item 2). A defect keeps the activity found
around its span when it was queued (`defects.activity`, 0 still to 1 busy, from Frigate's motion
and object counts on the flanking recordings; NULL when unknown), and a job keeps its place in the
claim order (`repair_jobs.claim_rank`, 1 - activity, smaller first) with an index the claim walks
in that order. Jobs queued before this revision get 0.5, the rank of an unknown activity; their
defects' activity stays NULL.

Plain ADD COLUMN and CREATE INDEX on both databases: nothing here needs SQLite's table rebuild.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("defects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activity", sa.Float(), nullable=True))
    with op.batch_alter_table("repair_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_rank", sa.Float(), server_default=sa.text("0.5"), nullable=False)
        )
        batch_op.create_index(
            "ix_repair_jobs_claim_order",
            ["state", "claim_rank", "not_before", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("repair_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_repair_jobs_claim_order")
        batch_op.drop_column("claim_rank")
    with op.batch_alter_table("defects", schema=None) as batch_op:
        batch_op.drop_column("activity")
