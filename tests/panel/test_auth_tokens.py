"""JWT access and refresh tokens: POST /api/v2/auth/token and /api/v2/auth/refresh, against PostgreSQL
and Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher
from auth_helpers import (
    LOGIN_RATE_LIMIT,
    LOGIN_RATE_WINDOW_SECONDS,
    PASSWORD,
    audit_actions,
    bearer,
    query_users,
    set_active,
    token_pair,
)
from flask import Flask
from flask.testing import FlaskClient
from panel.auth.passwords import needs_rehash, verify_password
from panel.models import User
from support.servers import free_port

pytest_plugins = ["auth_fixtures"]

PROBE = "/api/v2/_probe/any"


def test_token_endpoint_issues_a_working_pair_and_audits_the_login(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    user = make_auth_user("alice", "operator")
    response = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == auth_app.extensions["panel"].settings.jwt_access_ttl_seconds

    probe = auth_client.get(PROBE, headers=bearer(body["access_token"]))
    assert probe.status_code == 200
    assert probe.get_json() == {"username": "alice", "role": "operator"}

    assert ("auth.login", str(user.id), {"method": "token", "address": "127.0.0.1"}) in audit_actions(
        auth_app
    )
    assert query_users(auth_app)[0].last_login_at is not None


def test_wrong_password_and_unknown_user_get_the_same_401(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    wrong_password = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": "nope"})
    unknown_user = auth_client.post("/api/v2/auth/token", json={"username": "mallory", "password": "nope"})
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong_password.get_json()["detail"] == unknown_user.get_json()["detail"]
    assert wrong_password.get_json()["title"] == unknown_user.get_json()["title"]
    failures = [changes for action, _, changes in audit_actions(auth_app) if action == "auth.login_failed"]
    assert [(c or {})["reason"] for c in failures] == ["wrong password", "unknown user"]
    assert all("nope" not in str(c) for c in failures), "the audit log must never hold a password"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"data": "username=alice", "content_type": "application/x-www-form-urlencoded"}, "JSON object"),
        ({"json": ["alice", "secret"]}, "JSON object"),
        ({"json": {"username": "alice"}}, "'password'"),
        ({"json": {"username": 7, "password": "x"}}, "'username'"),
        ({"json": {"username": "", "password": "x"}}, "'username'"),
        ({"json": {"username": "a" * 65, "password": "x"}}, "longer than 64"),
        ({"json": {"username": "al\x00ice", "password": "x"}}, "control characters"),
    ],
)
def test_token_endpoint_rejects_bad_input_with_a_problem(
    auth_client: FlaskClient, kwargs: dict[str, object], named: str
) -> None:
    response = auth_client.post("/api/v2/auth/token", **kwargs)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert named in response.get_json()["detail"]


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    first = token_pair(auth_client, "alice")
    second_response = auth_client.post("/api/v2/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second_response.status_code == 200
    second = second_response.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert auth_client.get(PROBE, headers=bearer(second["access_token"])).status_code == 200

    # The first refresh token was copied and replayed: it fails, and so does the legitimate newer one.
    replay = auth_client.post("/api/v2/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already used" in replay.get_json()["detail"]
    revoked = auth_client.post("/api/v2/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert revoked.status_code == 401
    assert "revoked" in revoked.get_json()["detail"]

    # A fresh sign-in starts a new family that works.
    third = token_pair(auth_client, "alice")
    assert (
        auth_client.post("/api/v2/auth/refresh", json={"refresh_token": third["refresh_token"]}).status_code
        == 200
    )


def test_token_types_are_not_interchangeable(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    pair = token_pair(auth_client, "alice")
    as_access = auth_client.get(PROBE, headers=bearer(pair["refresh_token"]))
    assert as_access.status_code == 401
    assert "'access'" in as_access.get_json()["detail"]
    as_refresh = auth_client.post("/api/v2/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert as_refresh.status_code == 401
    assert "'refresh'" in as_refresh.get_json()["detail"]


def test_expired_forged_and_malformed_tokens_are_rejected(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    user = make_auth_user("alice", "admin")
    secret = auth_app.extensions["panel"].settings.jwt_secret
    past = datetime.now(UTC) - timedelta(hours=1)
    claims = {"iss": "panel", "sub": str(user.id), "typ": "access", "jti": "x", "iat": past}
    expired = jwt.encode({**claims, "exp": past + timedelta(minutes=5)}, secret, algorithm="HS256")
    forged = jwt.encode(
        {**claims, "exp": datetime.now(UTC) + timedelta(hours=1)},
        "not-the-secret-but-as-long-as-one!",
        algorithm="HS256",
    )
    response = auth_client.get(PROBE, headers=bearer(expired))
    assert response.status_code == 401
    assert "expired" in response.get_json()["detail"]
    assert auth_client.get(PROBE, headers=bearer(forged)).status_code == 401
    assert auth_client.get(PROBE, headers=bearer("not.a.jwt")).status_code == 401
    basic = auth_client.get(PROBE, headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert basic.status_code == 401
    assert "Bearer" in basic.get_json()["detail"]


def test_disabled_users_get_no_tokens_and_their_tokens_stop_working(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    pair = token_pair(auth_client, "alice")
    set_active(auth_app, "alice", False)
    assert auth_client.get(PROBE, headers=bearer(pair["access_token"])).status_code == 401
    refresh = auth_client.post("/api/v2/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401
    login = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    assert login.get_json()["detail"] == "invalid username or password"


def test_failed_logins_are_throttled_per_username_and_address(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    make_auth_user("bob")
    # Successful sign-ins never count against the limit.
    for _ in range(LOGIN_RATE_LIMIT + 1):
        token_pair(auth_client, "alice")
    for _ in range(LOGIN_RATE_LIMIT):
        wrong = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": "guess"})
        assert wrong.status_code == 401
    blocked = auth_client.post("/api/v2/auth/token", json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.mimetype == "application/problem+json"
    assert 0 < int(blocked.headers["Retry-After"]) <= LOGIN_RATE_WINDOW_SECONDS
    assert "try again in" in blocked.get_json()["detail"]

    # Another user from the same address, and the same user from another address, are unaffected.
    token_pair(auth_client, "bob")
    elsewhere = auth_client.post(
        "/api/v2/auth/token",
        json={"username": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert elsewhere.status_code == 200


def test_sign_in_without_redis_is_a_503_not_a_crash(
    make_auth_app: Callable[..., Flask], make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    app = make_auth_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().post("/api/v2/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"


def test_weak_password_hashes_are_upgraded_on_sign_in_and_sso_only_accounts_have_no_password(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("sso-only", password=None)
    refused = auth_client.post("/api/v2/auth/token", json={"username": "sso-only", "password": ""})
    assert refused.status_code == 400
    refused = auth_client.post("/api/v2/auth/token", json={"username": "sso-only", "password": "anything"})
    assert refused.status_code == 401

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    user = make_auth_user("old-timer")
    with auth_app.app_context():
        session = auth_app.extensions["panel"].sessions()
        session.query(User).filter_by(id=user.id).update({"password_hash": weak})
        session.commit()
        auth_app.extensions["panel"].sessions.remove()
    token_pair(auth_client, "old-timer")
    [stored] = [u.password_hash for u in query_users(auth_app) if u.username == "old-timer"]
    assert stored is not None and stored != weak
    assert not needs_rehash(stored)
    assert verify_password(stored, PASSWORD)
