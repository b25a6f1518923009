"""Shared fixtures: an isolated working directory and configuration for every test, and catalogs on
both SQLite and a throwaway PostgreSQL 15 server (tests/pgserver.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer, find_bindir

from gapfill.catalog.db import Catalog, upgrade


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own directory with its own data dir, so no gapfill.toml, .env or
    catalog of the developer's leaks in."""
    for name in list(os.environ):
        if name.startswith("GAPFILL_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(work / "data"))
    return work


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL server programs not found (Debian package postgresql-15)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install them (.ci/run does)")
        pytest.skip(message)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


_database_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend; the same test runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"test_{os.getpid()}_{next(_database_names)}")


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A catalog at the newest schema, on each backend."""
    upgrade(catalog_url)
    catalog = Catalog(catalog_url)
    yield catalog
    catalog.dispose()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MALT checkpoint with random weights: real code paths, seconds to run."""
    import torch

    from gapfill.network.checkpoint import save_model
    from gapfill.network.config import MaltConfig
    from gapfill.network.malt import Malt

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_checkpoint")
    save_model(Malt(MaltConfig.tiny()), folder)
    return folder


@pytest.fixture
def site(catalog: Catalog, tmp_path: Path) -> object:
    """A small API installation (tests/api_site.py): one repaired clip, a user per role."""
    from api_site import make_site  # imported here: most tests never need the API stack

    return make_site(catalog, tmp_path)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end are killed (by their own pid), so a
    failed assertion never leaves a worker or daemon behind."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
