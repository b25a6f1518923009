"""Engines, sessions and schema upgrades: how the rest of gapfill reaches the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gapfill.config import Settings
from gapfill.errors import UserError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`. SQLite gets foreign keys, WAL and a busy timeout, so the daemon's
    writer and the API's readers do not trip over each other."""
    if url.startswith("sqlite"):
        engine = _create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return _create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, or None (another database, or SQLite in memory)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


def _make_sqlite_folder(url: str) -> None:
    """`gapfill init` makes the folder of a SQLite catalog; nothing else creates it."""
    path = _sqlite_file(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, or no permission
        raise UserError(
            f"database {url}: cannot make its folder {path.parent}: {exc.strerror}"
        ) from None


def _create_engine(url: str, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:  # unknown dialect, or its driver not installed
        where = make_url(url).render_as_string(hide_password=True)
        raise UserError(f"database {where}: not usable here: {exc}") from None


class Catalog:
    """One database: its engine and a session factory. A context manager: leaving the block
    closes the engine's pooled connections (`with open_catalog(settings) as catalog:`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block succeeds, rolled back if it raises."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def require_schema(self) -> None:
        """Refuse to work on a database that `gapfill init` has not prepared."""
        # Connecting would create a SQLite file: a command run before init (or with a mistyped
        # data_dir) would leave an empty catalog behind.
        path = _sqlite_file(self.url)
        if path is not None and not path.exists():
            raise UserError(f"database {self.display_url}: not initialised; run `gapfill init`")
        try:
            current = current_revision(self.engine)
        except DBAPIError as exc:
            raise unusable(self.display_url, exc) from None
        refuse_newer_schema(self.display_url, current)
        head = head_revision()
        if current is None:
            raise UserError(f"database {self.display_url}: not initialised; run `gapfill init`")
        if current != head:
            raise UserError(
                f"database {self.display_url}: schema at {current}, this gapfill needs {head}; "
                "run `gapfill init` to upgrade"
            )

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()


def unusable(where: str, exc: DBAPIError) -> UserError:
    """The user error for a database the driver refused: unreachable (OperationalError), or a
    file that is no SQLite database at all (a text file named as the catalog). `where` must
    already have its password masked."""
    problem = "cannot connect" if isinstance(exc, OperationalError) else "cannot open"
    # libpq puts a hint ("Is the server running...") on a second line; the user gets one.
    reason = " ".join(str(exc.orig).split())
    return UserError(f"database {where}: {problem}: {reason}")


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini interpolation treats % specially; URLs may contain %-escapes.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@cache
def _migrations() -> Any:
    """Alembic's view of migrations/: read once, since every catalog opened (each command, each
    health probe) asks for the head, and a newer catalog for the whole history."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    head = _migrations().get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head


def refuse_newer_schema(where: str, current: str | None) -> None:
    """A revision this code has no migration for was written by a newer gapfill: neither using
    the catalog (its tables may mean something else now) nor upgrading it (Alembic cannot walk
    from an unknown revision) is safe, so nothing touches it."""
    if current is None or current == head_revision():
        return
    if current not in {revision.revision for revision in _migrations().walk_revisions()}:
        raise UserError(
            f"database {where}: written by a newer gapfill (schema {current}, this gapfill knows "
            f"up to {head_revision()}); upgrade gapfill, the catalog was left as it is"
        )


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str) -> tuple[str | None, str]:
    """Create or upgrade the database at `url` to the newest schema. Returns (before, after)."""
    from alembic import command

    _make_sqlite_folder(url)
    engine = make_engine(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        try:
            before = current_revision(engine)
        except DBAPIError as exc:
            raise unusable(where, exc) from None
        refuse_newer_schema(where, before)
        config = alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return before, head_revision()
    finally:
        engine.dispose()


def sqlite_write_lock(session: Session) -> None:
    """On SQLite, take the database write lock now, before the reads a write depends on. Python's
    sqlite3 begins a transaction only at the first write, so two processes could otherwise read
    the same state and both act on it. Does nothing elsewhere, or when the transaction began
    already (it holds, or will take, the lock)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    raw = session.connection().connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        session.execute(text("BEGIN IMMEDIATE"))


def open_catalog(settings: Settings) -> Catalog:
    """The configured catalog, refused unless `gapfill init` has brought it to this version."""
    catalog = Catalog(settings.effective_database_url)
    try:
        catalog.require_schema()
    except BaseException:
        catalog.dispose()
        raise
    return catalog
