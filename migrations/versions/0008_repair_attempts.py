"""repair attempts

The plant hears of every failed repair attempt, not only of the job given up on at last (issue
29, item 3: "repair failed or dead"). The job row keeps only its latest error, so each failed
attempt is appended to a table of its own: which attempt of which job, what became of the job
(back in the queue until `retry_at`, failed or dead), the worker and the error. The daemon's
MQTT relay reads it from the catalog like every other event (gapfill/catalog/queries/events.py).

A new table: nothing existing changes. Attempts that failed before this revision are not here;
their jobs keep their last error as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repair_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('retrying', 'failed', 'dead')", name=op.f("ck_repair_attempts_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["repair_jobs.id"], name=op.f("fk_repair_attempts_job_id_repair_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_attempts")),
    )
    with op.batch_alter_table("repair_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_repair_attempts_job_id", ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repair_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_repair_attempts_job_id")
    op.drop_table("repair_attempts")
