"""Credential changes revoke every earlier sign-in at once (issue 12, item 4), and new passwords follow
NIST SP 800-63B (item 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auth_helpers import login_form_token
from flask import Flask
from flask.testing import FlaskClient
from panel import credentials
from panel.extensions import db
from panel.models import User
from panel_helpers import body

Headers = Callable[[str], dict[str, str]]
NEW_PASSWORD = "an-entirely-new-passphrase-42"


def _sign_in_everywhere(app: Flask, user: User) -> tuple[FlaskClient, dict[str, str], str]:
    """A browser session, an access token and a refresh token for ``user``."""
    browser = app.test_client()
    token = login_form_token(browser)
    signed_in = browser.post(
        "/login", data={"username": user.username, "password": user.password, "csrf_token": token}
    )
    assert signed_in.status_code == 302
    assert browser.get("/api/v2/servers").status_code == 200
    pair = body(
        app.test_client().post(
            "/api/v2/auth/token", json={"username": user.username, "password": user.password}
        )
    )
    return browser, {"Authorization": f"Bearer {pair['access_token']}"}, pair["refresh_token"]


@pytest.mark.parametrize(
    "change",
    [{"password": NEW_PASSWORD}, {"role": "viewer"}, {"is_active": False}],
    ids=["password reset", "role change", "deactivation"],
)
def test_a_credential_change_revokes_tokens_refresh_chains_and_sessions(
    app: Flask,
    client: FlaskClient,
    auth_headers: Headers,
    make_user: Callable[..., User],
    change: dict[str, Any],
) -> None:
    user = make_user("operator")
    browser, access, refresh = _sign_in_everywhere(app, user)
    api = app.test_client()
    assert api.get("/api/v2/servers", headers=access).status_code == 200

    updated = client.patch(f"/api/v2/users/{user.id}", json=change, headers=auth_headers("admin"))
    assert updated.status_code == 200, updated.get_data(as_text=True)

    stale = api.get("/api/v2/servers", headers=access)
    assert stale.status_code == 401
    assert browser.get("/api/v2/servers").status_code == 401
    assert browser.get("/", follow_redirects=False).status_code == 302  # back to the login page
    renewed = api.post("/api/v2/auth/refresh", json={"refresh_token": refresh})
    assert renewed.status_code == 401
    if change.get("is_active") is not False:
        password = change.get("password", user.password)
        fresh = api.post("/api/v2/auth/token", json={"username": user.username, "password": password})
        assert fresh.status_code == 200
        again = {"Authorization": f"Bearer {body(fresh)['access_token']}"}
        assert api.get("/api/v2/servers", headers=again).status_code == 200


def test_an_unrelated_change_or_a_rehash_revokes_nothing(
    app: Flask, client: FlaskClient, auth_headers: Headers, make_user: Callable[..., User]
) -> None:
    user = make_user("operator")
    browser, access, _refresh = _sign_in_everywhere(app, user)
    assert (
        client.patch(
            f"/api/v2/users/{user.id}", json={"email": "op@example.com"}, headers=auth_headers("admin")
        ).status_code
        == 200
    )
    with app.app_context():
        session = db()
        stored = session.get(User, user.id)
        assert stored is not None
        stored.password_hash = stored.password_hash + ""  # unchanged value: no history
        stored.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$re-hashed"
        credentials.mark_rehash(session, stored)
        session.commit()
        assert stored.credential_generation == 0
    assert app.test_client().get("/api/v2/servers", headers=access).status_code == 200
    assert browser.get("/api/v2/servers").status_code == 200


@pytest.mark.parametrize(
    ("password", "named"),
    [
        (" " * 12, "too easy to guess"),
        ("\x00" * 12, "control characters"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("password1234", "commonly used"),
        ("qwertyuiop12", "commonly used"),
        ("abcdefghijklmnop", "too easy to guess"),
        ("newbie-is-my-name-2024", "username"),
        ("short-one", "at least 12"),
        ("x" * 257, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_naming_the_rule(
    client: FlaskClient, auth_headers: Headers, password: str, named: str
) -> None:
    response = client.post(
        "/api/v2/users", json={"username": "newbie", "password": password}, headers=auth_headers("admin")
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    problem = body(response)
    assert problem["errors"][0]["field"] == "password"
    assert named in problem["detail"]


def test_a_good_passphrase_is_accepted_and_a_weak_reset_refused(
    client: FlaskClient, auth_headers: Headers, make_user: Callable[..., User]
) -> None:
    admin = auth_headers("admin")
    created = client.post(
        "/api/v2/users", json={"username": "newbie", "password": "glacier-violin-marmalade"}, headers=admin
    )
    assert created.status_code == 201
    user = make_user("viewer")
    weak = client.patch(f"/api/v2/users/{user.id}", json={"password": "aaaaaaaaaaaa"}, headers=admin)
    assert weak.status_code == 422


def test_a_reset_may_not_put_the_username_in_the_password(
    client: FlaskClient, auth_headers: Headers, make_user: Callable[..., User]
) -> None:
    # PATCH carries no username, so the request model cannot apply this rule: the account's name is used.
    user = make_user("viewer", username="marguerite")
    before = body(client.get(f"/api/v2/users/{user.id}", headers=auth_headers("admin")))
    response = client.patch(
        f"/api/v2/users/{user.id}",
        json={"password": "Marguerite-likes-tea-2026"},
        headers=auth_headers("admin"),
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert body(response)["errors"] == [
        {"field": "password", "message": "do not put the username in the password"}
    ]
    token = client.post("/api/v2/auth/token", json={"username": "marguerite", "password": user.password})
    assert token.status_code == 200, "a refused reset must leave the old password working"
    assert before is not None
