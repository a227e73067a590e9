"""Helpers for the auth tests: constants shared with auth_fixtures, database peeks, signing in."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from panel.models import AuditEntry, User

PANEL_URL = "http://localhost"  # the Flask test client's host
CALLBACK_URL = f"{PANEL_URL}/auth/oidc/callback"
PASSWORD = "correct horse battery staple"
LOGIN_RATE_LIMIT = 3
LOGIN_RATE_WINDOW_SECONDS = 600


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
