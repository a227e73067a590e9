"""Fixtures for the auth tests: a panel app on PostgreSQL and the session Redis, wired to the local
OIDC provider, and a user factory.

Loaded by the tests/panel/test_auth*.py modules with ``pytest_plugins = ["auth_fixtures"]``, so these
tests do not depend on how the rest of the panel suite builds its app. Names are auth-specific so they
never shadow the suite's own fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auth_helpers import CALLBACK_URL, LOGIN_RATE_LIMIT, LOGIN_RATE_WINDOW_SECONDS, PANEL_URL, PASSWORD
from flask import Flask
from flask.testing import FlaskClient
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from panel import auth
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import Resources
from panel.models import Base, Role, User
from panel.settings import Settings, load_settings
from sqlalchemy import NullPool, create_engine, text
from support.servers import PostgresServer


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider().start()
    provider.redirect_uris = {CALLBACK_URL}
    yield provider
    provider.stop()


@pytest.fixture
def idp(oidc_provider: OidcProvider) -> OidcProvider:
    oidc_provider.reset()
    return oidc_provider


def _add_probe_routes(app: Flask) -> None:
    """Routes guarded by require_role, standing in for the panel's real views."""

    @app.get("/api/v2/_probe/any")
    @auth.require_role()
    def api_any() -> dict[str, Any]:
        user = auth.current_user()
        assert user is not None
        return {"username": user.username, "role": user.role}

    @app.post("/api/v2/_probe/write")
    @auth.require_role(Role.ADMIN, Role.OPERATOR)
    def api_write() -> dict[str, Any]:
        return {"written": True}

    @app.get("/_probe/admin-page")
    @auth.require_role("admin")
    def admin_page() -> str:
        return "admin page"

    @app.get("/_probe/page")
    @auth.require_role()
    def any_page() -> str:
        return "signed-in page"


@pytest.fixture(scope="session")
def auth_database(postgres_server: PostgresServer) -> Iterator[str]:
    """One PostgreSQL database with the panel's schema for all auth tests (emptied before each test)."""
    name = postgres_server.create_database()
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the panel ships psycopg2.
    url = postgres_server.url(name, driver="postgresql+psycopg2")
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    postgres_server.drop_database(name)


def _empty_tables(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def make_auth_app(
    auth_database: str, redis_url: str, oidc_provider: OidcProvider
) -> Iterator[Callable[..., Flask]]:
    """Build a panel app; keyword arguments override settings (e.g. OIDC on/off)."""
    _empty_tables(auth_database)
    built: list[Resources] = []

    def build(**overrides: Any) -> Flask:
        values: dict[str, Any] = {
            "database_url": auth_database,
            "redis_url": redis_url,
            "panel_env": "testing",
            "jwt_secret": "test-jwt-secret-of-at-least-32-bytes",
            "panel_url": PANEL_URL,
            "login_rate_limit": LOGIN_RATE_LIMIT,
            "login_rate_window_seconds": LOGIN_RATE_WINDOW_SECONDS,
            "oidc_issuer_url": oidc_provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            **overrides,
        }
        settings: Settings = load_settings({}, **values)
        app = create_app(settings)
        _add_probe_routes(app)
        resources: Resources = app.extensions["panel"]
        built.append(resources)
        return app

    yield build
    for resources in built:
        resources.close()


@pytest.fixture
def auth_app(make_auth_app: Callable[..., Flask]) -> Flask:
    return make_auth_app()


@pytest.fixture
def auth_client(auth_app: Flask) -> FlaskClient:
    return auth_app.test_client()


@pytest.fixture
def make_auth_user(auth_app: Flask) -> Callable[..., User]:
    """Create a user with password PASSWORD (or ``password=None`` for an SSO-only account)."""

    def create(
        username: str = "alice",
        role: str = "viewer",
        *,
        password: str | None = PASSWORD,
        email: str | None = None,
        is_active: bool = True,
    ) -> User:
        with auth_app.app_context():
            session = auth_app.extensions["panel"].sessions()
            user = User(
                username=username,
                email=email,
                password_hash=hash_password(password) if password else None,
                role=role,
                is_active=is_active,
            )
            session.add(user)
            session.commit()
            session.refresh(user)
            session.expunge(user)
            auth_app.extensions["panel"].sessions.remove()
            return user

    return create
