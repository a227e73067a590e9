"""API v1: the legacy shapes, and the deprecation headers on every answer (errors included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from panel_helpers import body

Headers = Callable[[str], dict[str, str]]


def assert_deprecated(response: Any) -> None:
    assert response.headers["Deprecation"].startswith("@")
    assert response.headers["Sunset"].endswith("GMT")
    assert 'rel="successor-version"' in response.headers["Link"]


def test_legacy_crud(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    operator = auth_headers("operator")
    created = client.post("/api/v1/servers", json=server_payload(name="legacy"), headers=operator)
    assert created.status_code == 201
    assert_deprecated(created)
    server_id = body(created)["id"]
    assert set(body(created)) == {
        "id",
        "name",
        "address",
        "port",
        "protocol",
        "tags",
        "owner",
        "status",
        "last_check_at",
    }

    listed = client.get("/api/v1/servers", headers=operator)
    assert isinstance(body(listed), list) and [s["name"] for s in body(listed)] == ["legacy"]
    assert_deprecated(listed)

    replaced = client.put(
        f"/api/v1/servers/{server_id}", json={"name": "legacy", "address": "h2", "port": 22}, headers=operator
    )
    assert replaced.status_code == 200
    # PUT replaces: fields left out fall back to their defaults.
    assert body(replaced)["tags"] == [] and body(replaced)["owner"] is None and body(replaced)["port"] == 22

    assert body(client.get(f"/api/v1/servers/{server_id}", headers=operator))["address"] == "h2"
    deleted = client.delete(f"/api/v1/servers/{server_id}", headers=operator)
    assert deleted.status_code == 204
    assert_deprecated(deleted)
    missing = client.get(f"/api/v1/servers/{server_id}", headers=operator)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert_deprecated(missing)


def test_legacy_roles_and_validation(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    viewer = auth_headers("viewer")
    unauthenticated = client.get("/api/v1/servers")
    assert unauthenticated.status_code == 401
    assert_deprecated(unauthenticated)
    assert client.post("/api/v1/servers", json=server_payload(), headers=viewer).status_code == 403
    invalid = client.post("/api/v1/servers", json={"name": "x"}, headers=auth_headers("admin"))
    assert invalid.status_code == 422 and "address" in body(invalid)["detail"]
