"""Fixtures for the panel suite: the app on SQLite and on PostgreSQL, users of each role, tokens.

- ``app`` / ``client``: parametrised over both databases; the schema is created by the Alembic
  migrations (as ``panel migrate`` does), never by ``create_all``.
- ``make_user(role, username=None, password=None)``: an active user; ``user.password`` is the
  plain password (set on the object only, for the test to log in with).
- ``auth_headers(role)``: ``{"Authorization": "Bearer ..."}`` for a fresh user of that role, from
  ``POST /api/v2/auth/token``.

Plain helpers live in ``panel_helpers.py`` (import them from there, never ``from conftest``: several
suites have a conftest module): ``body(response)``, ``run_jobs(app)`` (run queued RQ jobs in-process),
``make_settings(database_url, redis_url, **overrides)``, ``migrate(database_url)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import db
from panel.models import User
from panel.settings import Settings
from panel_helpers import TEST_SECRET, body, make_settings, migrate, run_jobs  # noqa: F401 - re-exported

DEFAULT_PASSWORD = "correct-horse-battery-staple"
_user_numbers = itertools.count(1)
_hashes: dict[str, str] = {}


def _hash(password: str) -> str:
    # Argon2 is slow on purpose; hash each distinct test password once per session.
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    return _hashes[password]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/panel.db"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def migrated_database(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
def cli_env(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's database and Redis and test secrets, set in the environment for `panel` commands
    run in-process or as subprocesses; returns them."""
    values = {
        "PANEL_ENV": "testing",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "JWT_SECRET": TEST_SECRET[::-1],
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def make_settings_env() -> dict[str, str]:
    """Environment for `panel` subprocesses (add DATABASE_URL and REDIS_URL)."""
    return {
        "PANEL_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "JWT_SECRET": TEST_SECRET[::-1],
        "CHECK_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        "METRICS_PORT": "0",  # tests that scrape set a free port of their own
    }


@pytest.fixture
def settings(migrated_database: str, redis_url: str) -> Settings:
    return make_settings(migrated_database, redis_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    yield application
    application.extensions["panel"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    def _make(role: str = "viewer", username: str | None = None, password: str | None = None) -> User:
        username = username or f"{role}{next(_user_numbers)}"
        password = password or DEFAULT_PASSWORD
        with app.app_context():
            session = db()
            user = User(username=username, role=role, password_hash=_hash(password), is_active=True)
            session.add(user)
            session.commit()
            session.refresh(user)
            session.expunge(user)
        user.password = password
        return user

    return _make


@pytest.fixture
def auth_headers(client: FlaskClient, make_user: Callable[..., User]) -> Callable[[str], dict[str, str]]:
    issued: dict[str, dict[str, str]] = {}

    def _headers(role: str = "admin") -> dict[str, str]:
        if role not in issued:
            user = make_user(role)
            response = client.post(
                "/api/v2/auth/token",
                json={"username": user.username, "password": user.password},
            )
            assert response.status_code == 200, response.get_data(as_text=True)
            issued[role] = {"Authorization": f"Bearer {body(response)['access_token']}"}
        return issued[role]

    return _headers


@pytest.fixture
def server_payload() -> Callable[..., dict[str, Any]]:
    counter = itertools.count(1)

    def _payload(**overrides: Any) -> dict[str, Any]:
        number = next(counter)
        return {
            "name": f"srv-{number:04d}",
            "address": "127.0.0.1",
            "port": 1,
            "protocol": "tcp",
            "tags": ["web"],
            "owner": "team-a",
            **overrides,
        }

    return _payload
