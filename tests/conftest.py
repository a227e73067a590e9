"""Session-wide fixtures shared by every suite: real PostgreSQL and Redis on loopback.

Each server starts lazily, the first time a test asks for it, and stops when the
session ends, so a run of one suite never pays for servers it does not use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).resolve().parent))

# A real panel for any suite (start_panel, real_panel) and the hook that adds its logs to a failing
# test's report: see tests/support/running_panel.py.
from support.running_panel import pytest_runtest_makereport, real_panel, start_panel  # noqa: F401
from support.servers import PostgresServer, RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent


# Suites whose fixtures need the chart toolchain or versitygw from ci/tools.sh. They run last so that, on a
# new machine, `make test` runs every other suite while the toolchain builds in the background.
TOOLCHAIN_SUITES = ("backup", "chart")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def needs_toolchain(item: pytest.Item) -> bool:
        path = Path(str(item.path))  # a test outside the repository (a harness test's own) needs none
        parts = path.relative_to(REPO_ROOT).parts if path.is_relative_to(REPO_ROOT) else ()
        return len(parts) > 2 and parts[0] == "tests" and parts[1] in TOOLCHAIN_SUITES

    items.sort(key=needs_toolchain)  # stable: each group keeps its collection order


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; yields its SQLAlchemy URL."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session Redis, flushed before each test so tests never see each other's keys."""
    client = redis_lib.Redis.from_url(redis_server.url())
    client.flushall()
    client.close()
    yield redis_server.url()
