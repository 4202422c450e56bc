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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: nothing asyncio runs after Playwright's sync API in the process."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))


# --- no silent skips ------------------------------------------------------------------------
# A test that skips because a tool (sipp, baresip, chromium, espeak-ng, PostgreSQL) is missing
# would let a broken set-up pass. `make test` installs every tool, so any skip fails the run,
# except skips whose reason starts with "optional:" (e.g. no IPv6 loopback on the host).


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    silent = [
        (r.nodeid, _skip_reason(r))
        for r in reporter.stats.get("skipped", [])
        if not _skip_reason(r).startswith("optional:")
    ]
    if silent and exitstatus == 0:
        lines = "\n".join(f"  {nodeid}: {reason}" for nodeid, reason in silent)
        reporter.write_line(f"error: {len(silent)} test(s) skipped; fix the set-up:\n{lines}",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
