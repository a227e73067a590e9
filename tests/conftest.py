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
