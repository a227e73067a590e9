"""Hostile and careless requests (issue 12, items 1, 6, 8, 9 and 11): each answers with a 4xx and a
clear problem, never a 500 or a traceback; every response carries the security headers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from auth_helpers import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from panel.models import User
from panel_helpers import TEST_SECRET, body

Headers = Callable[[str], dict[str, str]]


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_deeply_nested_json_is_a_400_without_a_traceback(
    client: FlaskClient, auth_headers: Headers, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    admin = auth_headers("admin")
    wrapped = b'{"username": ' + _nested(depth) + b', "password": "x"}'
    for path, headers, data in (
        ("/api/v2/auth/token", {}, _nested(depth)),
        ("/api/v2/auth/token", {}, wrapped),
        ("/api/v2/auth/refresh", {}, _nested(depth)),
        ("/api/v2/servers", admin, _nested(depth)),
        ("/api/v1/servers", admin, _nested(depth)),
        ("/api/v2/users", admin, _nested(depth)),
    ):
        caplog.clear()
        response = client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.status_code)
        assert response.mimetype == "application/problem+json"
        _no_traceback(caplog)


def test_every_response_carries_the_security_headers(client: FlaskClient, auth_headers: Headers) -> None:
    for response in (
        client.get("/login"),
        client.get("/api/v2/servers", headers=auth_headers("viewer")),
        client.get("/api/v2/servers"),
        client.get("/livez"),
        client.get("/no-such-page"),
    ):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "object-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in headers  # plain HTTP: HSTS would be ignored anyway
    login = client.get("/login")
    assert login.headers["Cache-Control"] == "no-store"


def test_hsts_over_https(client: FlaskClient) -> None:
    response = client.get("/livez", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_an_authorization_header_does_not_skip_the_login_csrf_check(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("viewer")
    form = {"username": user.username, "password": user.password}
    for header in ("Bearer nonsense", "Basic YWRtaW46YWRtaW4=", ""):
        response = client.post("/login", data=form, headers={"Authorization": header})
        assert response.status_code == 400, header
        assert "Form expired" in response.get_data(as_text=True)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 302


def _forged(claims: dict[str, Any]) -> dict[str, str]:
    now = datetime.now(UTC)
    base = {"iss": "panel", "typ": "access", "jti": "x", "iat": now, "exp": now + timedelta(minutes=5)}
    token = jwt.encode({**base, **claims}, TEST_SECRET[::-1], algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("subject", ["9" * 30, "٣", "0", "-1", "1.0", " 1", "2147483648"])
def test_a_token_naming_an_impossible_user_is_a_401(
    client: FlaskClient, subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/api/v2/servers", headers=_forged({"sub": subject}))
    assert response.status_code == 401
    assert "names no user" in body(response)["detail"]
    _no_traceback(caplog)


def test_no_content_has_no_content_type(
    client: FlaskClient, auth_headers: Headers, server_payload: Callable[..., dict[str, Any]]
) -> None:
    admin = auth_headers("admin")
    for prefix in ("/api/v2", "/api/v1"):
        server = body(client.post(f"{prefix}/servers", json=server_payload(), headers=admin))
        deleted = client.delete(f"{prefix}/servers/{server['id']}", headers=admin)
        assert deleted.status_code == 204
        assert "Content-Type" not in deleted.headers


@pytest.mark.parametrize("path", ["/api/v2/users?limt=5", "/api/v2/audit?actoin=x&limit=5"])
def test_unknown_query_parameters_are_named_in_a_400(
    client: FlaskClient, auth_headers: Headers, path: str
) -> None:
    response = client.get(path, headers=auth_headers("admin"))
    assert response.status_code == 400
    assert "unknown query parameter" in body(response)["detail"]


def test_account_details_in_the_audit_log_are_for_admins_only(
    app: Flask, client: FlaskClient, auth_headers: Headers, make_user: Callable[..., User]
) -> None:
    admin, operator = auth_headers("admin"), auth_headers("operator")
    created = client.post(
        "/api/v2/users",
        json={"username": "newbie", "password": "a-long-and-unusual-passphrase", "email": "n@example.com"},
        headers=admin,
    )
    assert created.status_code == 201
    typed = "MyS3cretPassw0rd-typed-in-the-username-field"
    client.post("/api/v2/auth/token", json={"username": typed, "password": "whatever-it-was"})
    as_operator = body(client.get("/api/v2/audit?target_type=user", headers=operator))["items"]
    assert as_operator and all(item["changes"] is None and item["redacted"] for item in as_operator)
    assert "n@example.com" not in str(as_operator) and typed not in str(as_operator)
    as_admin = body(client.get("/api/v2/audit?target_type=user", headers=admin))["items"]
    assert any(item["changes"] and item["changes"].get("email") == "n@example.com" for item in as_admin)
    failed = [item for item in as_admin if item["action"] == "auth.login_failed"]
    assert failed and typed not in str(failed)  # even admins never read a typed username in clear
    assert len(failed[0]["changes"]["username_hash"]) == 32
