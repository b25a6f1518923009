"""recordings scan indexes

A watch tick must cost the same on a week or a year of footage (issue 29, item 4). Two of its
questions were answered by reading the whole recordings table: which recordings the scan still has
to decode (`scanned_at IS NULL`), and the newest scanned file's mtime behind the scan-lag figure.
Two partial indexes answer them instead:
- `ix_recordings_unscanned` (camera_id, start_time) over the unscanned rows only: a handful in a
  running daemon, so it stays small and the scan's query reads only them, in its own order;
- `ix_recordings_scanned_mtime` (mtime_ns) over the scanned rows: max(mtime_ns) is its last entry.
Both databases support partial indexes and use them for these queries
(tests/test_watch_catalog_cost.py measures a tick's work on each). Building them reads the table
once: seconds for a million recordings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recordings_unscanned",
            ["camera_id", "start_time"],
            unique=False,
            sqlite_where=sa.text("scanned_at IS NULL"),
            postgresql_where=sa.text("scanned_at IS NULL"),
        )
        batch_op.create_index(
            "ix_recordings_scanned_mtime",
            ["mtime_ns"],
            unique=False,
            sqlite_where=sa.text("scanned_at IS NOT NULL"),
            postgresql_where=sa.text("scanned_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_scanned_mtime")
        batch_op.drop_index("ix_recordings_unscanned")
