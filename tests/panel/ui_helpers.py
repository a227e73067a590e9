"""Helpers for the UI tests (imported as ``from ui_helpers import ...``): signing in through the form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: FlaskClient, user: Any, password: str | None = None) -> str:
    """Sign ``user`` in through the form; returns the session's CSRF token."""
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page)
    assert token, page
    response = client.post(
        "/login",
        data={"username": user.username, "password": password or user.password, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_of(client)


def csrf_of(client: FlaskClient, path: str = "/jobs") -> str:
    token = CSRF.search(client.get(path).get_data(as_text=True))
    assert token
    return token.group(1)
