"""Alembic environment: runs gapfill's migrations on the connection `gapfill init` hands over,
or on the URL in the Alembic config when run with the `alembic` command."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from gapfill.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # APScheduler owns its job-store table; it is not part of gapfill's schema.
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        run_migrations(conn)
