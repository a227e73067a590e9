"""Browser sign-in (GET|POST /login, POST /logout) with CSRF protection, and require_role on pages and
the API, against PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable

from auth_helpers import (
    LOGIN_RATE_LIMIT,
    PASSWORD,
    audit_actions,
    bearer,
    csrf_token_from,
    login_form_token,
    session_login,
    set_active,
    token_pair,
)
from flask import Flask
from flask.testing import FlaskClient
from panel.models import User


def session_csrf_token(client: FlaskClient) -> str:
    """The CSRF token a signed-in page would embed (read from the session cookie)."""
    with client.session_transaction() as session:
        token: str = session["csrf_token"]
    return token


pytest_plugins = ["auth_fixtures"]


def test_login_page_is_an_accessible_form_with_csrf_and_sso_button(auth_client: FlaskClient) -> None:
    page = auth_client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert '<label for="username">' in html and 'id="username"' in html
    assert '<label for="password">' in html and 'autocomplete="current-password"' in html
    assert csrf_token_from(html)
    assert 'href="/auth/oidc/login?next=/"' in html
    assert "Sign in with Google/SSO" in html


def test_login_page_has_no_sso_button_without_oidc(make_auth_app: Callable[..., Flask]) -> None:
    app = make_auth_app(oidc_issuer_url=None, oidc_client_id=None, oidc_client_secret=None)
    client = app.test_client()
    assert "Google/SSO" not in client.get("/login").get_data(as_text=True)
    not_configured = client.get("/auth/oidc/login")
    assert not_configured.status_code == 404
    assert "GOOGLE_CLIENT_ID" in not_configured.get_data(as_text=True)


def test_session_login_redirects_to_next_and_logout_ends_the_session(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    user = make_auth_user("alice")
    before = login_form_token(auth_client)
    response = session_login(auth_client, "alice", next_="/_probe/page?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/_probe/page?x=1"
    assert auth_client.get("/_probe/page").get_data(as_text=True) == "signed-in page"
    assert ("auth.login", str(user.id), {"method": "password", "address": "127.0.0.1"}) in audit_actions(
        auth_app
    )

    # Signing in issues a new CSRF token: a token seen before login is worthless afterwards.
    after = session_csrf_token(auth_client)
    assert after != before
    assert auth_client.post("/logout", data={"csrf_token": before}).status_code == 400
    copied_cookie = auth_client.get_cookie("session")
    assert copied_cookie is not None
    logout = auth_client.post("/logout", data={"csrf_token": after})
    assert logout.status_code == 302
    assert logout.headers["Location"] == "/login"
    assert auth_client.get("/_probe/page").status_code == 302

    # A copy of the signed-in cookie taken before logout is dead too (the session id was revoked).
    replay = auth_app.test_client()
    replay.set_cookie("session", copied_cookie.value)
    assert replay.get("/_probe/page").status_code == 302


def test_login_refuses_a_form_without_the_csrf_token(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    auth_client.get("/login")
    response = auth_client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    forged = auth_client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 400
    assert auth_client.get("/_probe/page").status_code == 302


def test_login_never_redirects_off_site(auth_app: Flask, make_auth_user: Callable[..., User]) -> None:
    make_auth_user("alice")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example"):
        response = session_login(auth_app.test_client(), "alice", next_=target)
        assert response.headers["Location"] == "/", target


def test_wrong_password_shows_the_form_again_with_a_generic_message(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    wrong = session_login(auth_client, "alice", password="nope")
    unknown = session_login(auth_client, "nobody", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        html = response.get_data(as_text=True)
        assert 'role="alert"' in html
        assert "Invalid username or password." in html
    nul = session_login(auth_client, "al\x00ice")
    assert nul.status_code == 401
    empty = session_login(auth_client, "alice", password="")
    assert empty.status_code == 400
    assert "Enter both" in empty.get_data(as_text=True)


def test_login_form_is_throttled_with_retry_after(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    for _ in range(LOGIN_RATE_LIMIT):
        assert session_login(auth_client, "alice", password="guess").status_code == 401
    blocked = session_login(auth_client, "alice")
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"
    assert int(blocked.headers["Retry-After"]) > 0

    token = login_form_token(auth_client)
    browser = auth_client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert browser.status_code == 429
    assert browser.mimetype == "text/html"
    assert int(browser.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in browser.get_data(as_text=True)
    # The API shares the same counter for this username and address.
    api = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": PASSWORD})
    assert api.status_code == 429


def test_disabled_user_loses_the_session(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    assert session_login(auth_client, "alice").status_code == 302
    set_active(auth_app, "alice", False)
    assert auth_client.get("/_probe/page").status_code == 302
    assert session_login(auth_client, "alice").status_code == 401


def test_require_role_on_the_api(auth_client: FlaskClient, make_auth_user: Callable[..., User]) -> None:
    make_auth_user("vera", "viewer")
    make_auth_user("otto", "operator")
    anonymous = auth_client.post("/api/v2/_probe/write")
    assert anonymous.status_code == 401
    assert anonymous.mimetype == "application/problem+json"
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="panel"'
    assert "/api/v2/auth/token" in anonymous.get_json()["detail"]

    viewer = token_pair(auth_client, "vera")["access_token"]
    denied = auth_client.post("/api/v2/_probe/write", headers=bearer(viewer))
    assert denied.status_code == 403
    assert denied.mimetype == "application/problem+json"
    assert "your role is viewer" in denied.get_json()["detail"]
    assert auth_client.get("/api/v2/_probe/any", headers=bearer(viewer)).status_code == 200

    operator = token_pair(auth_client, "otto")["access_token"]
    assert auth_client.post("/api/v2/_probe/write", headers=bearer(operator)).get_json() == {"written": True}


def test_require_role_on_pages(auth_client: FlaskClient, make_auth_user: Callable[..., User]) -> None:
    make_auth_user("otto", "operator")
    anonymous = auth_client.get("/_probe/admin-page?tab=1")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/_probe/admin-page?tab%3D1"
    session_login(auth_client, "otto")
    wrong_role = auth_client.get("/_probe/admin-page")
    assert wrong_role.status_code == 403
    assert wrong_role.mimetype == "text/html"


def test_session_cookie_writes_to_the_api_need_the_csrf_header(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("otto", "operator")
    session_login(auth_client, "otto")
    assert auth_client.get("/api/v2/_probe/any").get_json()["username"] == "otto"
    without = auth_client.post("/api/v2/_probe/write")
    assert without.status_code == 401
    assert "X-CSRF-Token" in without.get_json()["detail"]
    token = session_csrf_token(auth_client)
    assert auth_client.post("/api/v2/_probe/write", headers={"X-CSRF-Token": token}).status_code == 200
