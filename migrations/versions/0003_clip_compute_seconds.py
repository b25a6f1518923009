"""clip compute seconds

Every repair now records what it cost on its clip: `fill_seconds` (the model generating the
synthetic frames) and `repair_seconds` (the whole repair of the defect), so the pilot report's
compute figure covers clips made by `gapfill repair` and the demo, not only those of the repair
queue. Clips made before this revision were not measured: both columns are NULL for them, and the
report counts them as untimed (or falls back to their repair job's timing).

The columns carry column CHECK constraints added with plain ALTER TABLE ... ADD COLUMN, on both
databases: SQLite cannot add a table constraint without rebuilding the table, and rebuilding
synthetic_clips under `PRAGMA foreign_keys=ON` fails as soon as synthetic_spans rows point at it.
Alembic's add_column cannot emit a column constraint on SQLite either, hence the DDL text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As gapfill.catalog.models has them; copied, since a migration must not change with the models.
FILL_SECONDS = (
    "fill_seconds FLOAT CONSTRAINT ck_synthetic_clips_fill_seconds CHECK (fill_seconds >= 0)"
)
REPAIR_SECONDS = (
    "repair_seconds FLOAT CONSTRAINT ck_synthetic_clips_repair_seconds CHECK ("
    "(repair_seconds IS NULL AND fill_seconds IS NULL) OR (repair_seconds IS NOT NULL "
    "AND fill_seconds IS NOT NULL AND repair_seconds >= fill_seconds))"
)


def upgrade() -> None:
    op.execute(f"ALTER TABLE synthetic_clips ADD COLUMN {FILL_SECONDS}")
    op.execute(f"ALTER TABLE synthetic_clips ADD COLUMN {REPAIR_SECONDS}")


def downgrade() -> None:
    # repair_seconds first: its CHECK names fill_seconds, and SQLite refuses to drop a column
    # another column's CHECK refers to. Each column's own CHECK goes with it.
    op.execute("ALTER TABLE synthetic_clips DROP COLUMN repair_seconds")
    op.execute("ALTER TABLE synthetic_clips DROP COLUMN fill_seconds")
