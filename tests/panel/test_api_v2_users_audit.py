"""API v2 users (admin only) and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from panel_helpers import body

Headers = Callable[[str], dict[str, str]]


def test_admin_manages_users_and_every_change_is_audited(client: FlaskClient, auth_headers: Headers) -> None:
    admin = auth_headers("admin")
    created = client.post(
        "/api/v2/users",
        json={
            "username": "carol",
            "password": "a-long-enough-password",
            "role": "operator",
            "email": "c@example.org",
        },
        headers=admin,
    )
    assert created.status_code == 201, body(created)
    user = body(created)
    assert user["role"] == "operator" and "password" not in user and "password_hash" not in user

    token = client.post(
        "/api/v2/auth/token", json={"username": "carol", "password": "a-long-enough-password"}
    )
    assert token.status_code == 200

    duplicate = client.post(
        "/api/v2/users", json={"username": "carol", "password": "another-long-password"}, headers=admin
    )
    assert duplicate.status_code == 409

    patched = client.patch(
        f"/api/v2/users/{user['id']}", json={"role": "viewer", "is_active": False}, headers=admin
    )
    assert (
        patched.status_code == 200
        and body(patched)["role"] == "viewer"
        and body(patched)["is_active"] is False
    )
    assert (
        client.post(
            "/api/v2/auth/token", json={"username": "carol", "password": "a-long-enough-password"}
        ).status_code
        == 401
    )

    assert (
        client.patch(f"/api/v2/users/{user['id']}", json={"password": "short"}, headers=admin).status_code
        == 422
    )
    assert client.patch("/api/v2/users/424242", json={"role": "viewer"}, headers=admin).status_code == 404

    names = [u["username"] for u in body(client.get("/api/v2/users", headers=admin))["items"]]
    assert "carol" in names

    entries = body(client.get("/api/v2/audit?target_type=user", headers=admin))["items"]
    actions = [(e["action"], e["target_id"]) for e in entries]
    assert ("user.create", str(user["id"])) in actions and ("user.update", str(user["id"])) in actions
    update = next(e for e in entries if e["action"] == "user.update")
    assert update["changes"]["role"] == {"old": "operator", "new": "viewer"}


def test_admin_cannot_lock_themselves_out(client: FlaskClient, make_user: Callable[..., Any]) -> None:
    admin = make_user("admin")
    token = body(
        client.post("/api/v2/auth/token", json={"username": admin.username, "password": admin.password})
    )
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    response = client.patch(f"/api/v2/users/{admin.id}", json={"role": "viewer"}, headers=headers)
    assert response.status_code == 409


def test_users_and_audit_are_not_for_viewers(client: FlaskClient, auth_headers: Headers) -> None:
    viewer = auth_headers("viewer")
    assert client.get("/api/v2/users", headers=viewer).status_code == 403
    assert client.post("/api/v2/users", json={}, headers=viewer).status_code == 403
    assert client.get("/api/v2/audit", headers=viewer).status_code == 403


def test_audit_pagination(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    admin = auth_headers("admin")
    for _ in range(5):
        client.post("/api/v2/servers", json=server_payload(), headers=admin)
    first = body(client.get("/api/v2/audit?limit=3&action=server.create", headers=admin))
    second = body(
        client.get(f"/api/v2/audit?limit=3&action=server.create&cursor={first['next_cursor']}", headers=admin)
    )
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    assert second["next_cursor"] is None
    assert client.get("/api/v2/audit?cursor=@@", headers=admin).status_code == 400
