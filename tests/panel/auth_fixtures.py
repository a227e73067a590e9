"""Fixtures for the auth tests: a panel app on a fresh PostgreSQL database and the session Redis,
wired to the local OIDC provider, plus helpers to create users and sign in.

Imported explicitly by the tests/panel/test_auth*.py modules, so these tests do not depend on how
the rest of the panel suite builds its app.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from panel import auth
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import Resources
from panel.models import AuditEntry, Base, Role, User
from panel.settings import Settings, load_settings

PANEL_URL = "http://localhost"  # the Flask test client's host
CALLBACK_URL = f"{PANEL_URL}/auth/oidc/callback"
PASSWORD = "correct horse battery staple"
LOGIN_RATE_LIMIT = 3
LOGIN_RATE_WINDOW_SECONDS = 600


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider().start()
    provider.redirect_uris = {CALLBACK_URL}
    yield provider
    provider.stop()


@pytest.fixture
def provider(oidc_provider: OidcProvider) -> OidcProvider:
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


@pytest.fixture
def make_app(
    postgres_database: str, redis_url: str, oidc_provider: OidcProvider
) -> Iterator[Callable[..., Flask]]:
    """Build a panel app; keyword arguments override settings (e.g. OIDC on/off)."""
    built: list[Resources] = []
    schema_ready = False

    def build(**overrides: Any) -> Flask:
        nonlocal schema_ready
        values: dict[str, Any] = {
            # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the panel ships psycopg2.
            "database_url": postgres_database.replace("postgresql://", "postgresql+psycopg2://", 1),
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
        if not schema_ready:
            Base.metadata.create_all(resources.engine)
            schema_ready = True
        built.append(resources)
        return app

    yield build
    for resources in built:
        resources.sessions.remove()
        resources.engine.dispose()
        resources.redis.close()


@pytest.fixture
def auth_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def auth_client(auth_app: Flask) -> FlaskClient:
    return auth_app.test_client()


@pytest.fixture
def make_account(auth_app: Flask) -> Callable[..., User]:
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


def query_users(app: Flask) -> list[User]:
    with app.app_context():
        session = app.extensions["panel"].sessions()
        users = list(session.query(User).order_by(User.id))
        for user in users:
            session.expunge(user)
        app.extensions["panel"].sessions.remove()
        return users


def audit_actions(app: Flask) -> list[tuple[str, str | None, dict[str, Any] | None]]:
    with app.app_context():
        session = app.extensions["panel"].sessions()
        rows = [(e.action, e.target_id, e.changes) for e in session.query(AuditEntry).order_by(AuditEntry.id)]
        app.extensions["panel"].sessions.remove()
        return rows


def set_active(app: Flask, username: str, active: bool) -> None:
    with app.app_context():
        session = app.extensions["panel"].sessions()
        session.query(User).filter_by(username=username).update({"is_active": active})
        session.commit()
        app.extensions["panel"].sessions.remove()


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def login_form_token(client: FlaskClient) -> str:
    return csrf_token_from(client.get("/login").get_data(as_text=True))


def session_login(
    client: FlaskClient, username: str, password: str = PASSWORD, next_: str = "/_probe/page"
) -> Any:
    token = login_form_token(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token, "next": next_}
    )


def token_pair(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v2/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}
