"""Shared fixtures: databases (SQLite and a real PostgreSQL), a built Zvans, free ports."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, free_port, start_postgres, stop_postgres
from zvans.app import Zvans, build
from zvans.config import Settings
from zvans.store import migrate

_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server, _ = start_postgres()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL for the tests could not start: {exc}", pytrace=False)
    yield server
    stop_postgres(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/zvans.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"zvans_test_{next(_db_counter)}")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var", secret_key="test-secret")


@pytest.fixture
def zv(settings: Settings) -> Iterator[Zvans]:
    """A Zvans on a migrated, empty database (both engines)."""
    migrate.upgrade(settings.database_url)
    z = build(settings)
    yield z
    z.close()


@pytest.fixture
def port() -> int:
    return free_port()
