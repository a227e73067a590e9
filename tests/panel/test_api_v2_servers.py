"""API v2 servers: CRUD, roles, validation, cursor pagination, filters, sorting, ETag, cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from panel import cache, metrics
from panel_helpers import body

Headers = Callable[[str], dict[str, str]]


def create(client: FlaskClient, headers: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v2/servers", json=payload, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: dict[str, Any] = body(response)
    return created


def test_crud_round_trip_is_audited(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    admin = auth_headers("admin")
    created = create(client, admin, server_payload(name="web-1", tags=["Prod", "web", "prod"]))
    assert created["tags"] == ["prod", "web"]
    assert created["status"] == "unknown"

    shown = client.get(f"/api/v2/servers/{created['id']}", headers=admin)
    assert shown.status_code == 200 and body(shown)["name"] == "web-1"

    patched = client.patch(
        f"/api/v2/servers/{created['id']}", json={"port": 8443, "owner": None}, headers=admin
    )
    assert patched.status_code == 200
    assert body(patched)["port"] == 8443 and body(patched)["owner"] is None

    assert client.delete(f"/api/v2/servers/{created['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v2/servers/{created['id']}", headers=admin).status_code == 404

    audit = body(client.get("/api/v2/audit?target_type=server", headers=admin))["items"]
    assert [entry["action"] for entry in audit] == ["server.delete", "server.update", "server.create"]
    assert audit[1]["changes"]["port"] == {"old": 1, "new": 8443}
    assert all(entry["actor"] and entry["request_id"] for entry in audit)


def test_roles(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    viewer, operator = auth_headers("viewer"), auth_headers("operator")
    assert client.get("/api/v2/servers").status_code == 401
    assert client.get("/api/v2/servers", headers=viewer).status_code == 200
    denied = client.post("/api/v2/servers", json=server_payload(), headers=viewer)
    assert denied.status_code == 403
    assert denied.mimetype == "application/problem+json"
    created = create(client, operator, server_payload())
    assert client.delete(f"/api/v2/servers/{created['id']}", headers=viewer).status_code == 403
    assert client.get("/api/v2/users", headers=operator).status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "address": "h", "port": 1}, "name"),
        ({"name": "a", "address": "h", "port": 0}, "port"),
        ({"name": "a", "address": "h", "port": "80"}, "port"),
        ({"name": "a", "address": "h\x00", "port": 80}, "address"),
        ({"name": "a", "address": "h", "port": 80, "protocol": "ftp"}, "protocol"),
        ({"name": "a", "address": "h", "port": 80, "extra": 1}, "extra"),
        ({"address": "h", "port": 80}, "name"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    client: FlaskClient, auth_headers: Headers, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v2/servers", json=payload, headers=auth_headers("admin"))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in body(response)["detail"]
    assert body(response)["status"] == 422 and body(response)["title"]


def test_malformed_and_conflicting_requests(
    client: FlaskClient, auth_headers: Headers, server_payload: Any
) -> None:
    admin = auth_headers("admin")
    assert (
        client.post(
            "/api/v2/servers", data="{", headers={**admin, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/api/v2/servers", data="x", headers=admin).status_code == 415
    assert client.post("/api/v2/servers", json=[1], headers=admin).status_code == 400
    create(client, admin, server_payload(name="dup"))
    conflict = client.post("/api/v2/servers", json=server_payload(name="dup"), headers=admin)
    assert conflict.status_code == 409 and "dup" in body(conflict)["detail"]
    other = create(client, admin, server_payload(name="other"))
    renamed = client.patch(f"/api/v2/servers/{other['id']}", json={"name": "dup"}, headers=admin)
    assert renamed.status_code == 409
    assert (
        client.patch(f"/api/v2/servers/{other['id']}", json={"name": None}, headers=admin).status_code == 422
    )
    assert client.get("/api/v2/servers/99999999999", headers=admin).status_code == 404
    assert client.get("/api/v2/servers?limit=0", headers=admin).status_code == 400
    assert client.get("/api/v2/servers?status=sideways", headers=admin).status_code == 400
    assert client.get("/api/v2/servers?cursor=garbage", headers=admin).status_code == 400
    assert client.get("/api/v2/servers?owner=%00", headers=admin).status_code == 400
    assert client.put("/api/v2/servers/1", headers=admin).status_code == 405


def test_cursor_pagination_walks_every_row_once(
    client: FlaskClient, auth_headers: Headers, server_payload: Any
) -> None:
    admin = auth_headers("admin")
    names = [f"n{i:02d}" for i in (5, 3, 9, 1, 7, 2, 8, 4, 6, 0)]
    for name in names:
        create(client, admin, server_payload(name=name))
    for sort, expected in [
        ("name", sorted(names)),
        ("-name", sorted(names, reverse=True)),
        ("id", names),
        ("-created_at", names[::-1]),
    ]:
        seen: list[str] = []
        cursor = None
        while True:
            url = f"/api/v2/servers?limit=3&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            page = body(client.get(url, headers=admin))
            seen += [item["name"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, sort
    first = body(client.get("/api/v2/servers?limit=3&sort=name", headers=admin))
    mismatched = client.get(
        f"/api/v2/servers?limit=3&sort=-name&cursor={first['next_cursor']}", headers=admin
    )
    assert mismatched.status_code == 400


def test_filters(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    admin = auth_headers("admin")
    create(client, admin, server_payload(name="db-1", owner="dba", tags=["db", "prod"], address="10.0.0.5"))
    create(client, admin, server_payload(name="web-1", owner="web", tags=["prod"]))
    create(client, admin, server_payload(name="web-2", owner="web", tags=["staging"]))

    def names(query: str) -> list[str]:
        response = client.get(f"/api/v2/servers?{query}", headers=admin)
        assert response.status_code == 200, body(response)
        return [item["name"] for item in body(response)["items"]]

    assert names("owner=web") == ["web-1", "web-2"]
    assert names("tag=prod") == ["db-1", "web-1"]
    assert names("tag=prod&owner=web") == ["web-1"]
    assert names("q=WEB") == ["web-1", "web-2"]
    assert names("q=10.0.0") == ["db-1"]
    assert names("q=%25") == []  # LIKE wildcards are literal
    assert names("status=unknown&sort=-name") == ["web-2", "web-1", "db-1"]
    assert names("status=up") == []


def test_etag_and_cache_invalidation(client: FlaskClient, auth_headers: Headers, server_payload: Any) -> None:
    admin = auth_headers("admin")
    create(client, admin, server_payload(name="a"))
    first = client.get("/api/v2/servers", headers=admin)
    assert first.headers["X-Cache"] == "miss"
    etag = first.headers["ETag"]
    second = client.get("/api/v2/servers", headers=admin)
    assert second.headers["X-Cache"] == "hit" and second.headers["ETag"] == etag
    not_modified = client.get("/api/v2/servers", headers={**admin, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == etag

    create(client, admin, server_payload(name="b"))  # a write invalidates the cache
    third = client.get("/api/v2/servers", headers={**admin, "If-None-Match": etag})
    assert third.status_code == 200 and third.headers["X-Cache"] == "miss"
    assert [item["name"] for item in body(third)["items"]] == ["a", "b"]

    summary = client.get("/api/v2/summary", headers=admin)
    assert body(summary)["total"] == 2 and body(summary)["by_status"]["unknown"] == 2
    assert summary.headers["X-Cache"] == "miss"
    assert client.get("/api/v2/summary", headers=admin).headers["X-Cache"] == "hit"

    exposition = metrics.exposition()[0].decode()
    assert 'panel_cache_hits_total{endpoint="servers"}' in exposition
    assert 'panel_cache_misses_total{endpoint="summary"}' in exposition


def _generations_followed(app: Any) -> None:
    """Wait until the app's watcher follows the generations (it starts on the first request)."""
    watcher = app.extensions["panel"].generations
    deadline = time.monotonic() + 30
    while watcher.current(cache.GENERATION_KEY) is None:
        assert time.monotonic() < deadline, "the generation watcher never subscribed"
        time.sleep(0.05)


def test_a_cached_signed_in_read_needs_no_redis_round_trip(
    app: Any, client: FlaskClient, auth_headers: Headers, server_payload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = auth_headers("admin")
    create(client, admin, server_payload(name="a"))
    _generations_followed(app)
    for query in ("", "?limit=1", "?limit=1&sort=-name"):
        client.get(f"/api/v2/servers{query}", headers=admin)  # fill the auth-state and response caches
    redis_client = app.extensions["panel"].redis
    commands: list[str] = []
    original = redis_client.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return original(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting)
    for query, names in (("", ["a"]), ("?limit=1", ["a"]), ("?limit=1&sort=-name", ["a"])):
        response = client.get(f"/api/v2/servers{query}", headers=admin)
        assert response.headers["X-Cache"] == "hit"
        assert [item["name"] for item in body(response)["items"]] == names
        assert commands == [], query
    assert client.get("/api/v2/summary", headers=admin).headers["X-Cache"] == "miss"
    assert client.get("/api/v2/summary", headers=admin).headers["X-Cache"] == "hit"
    commands.clear()
    assert client.get("/api/v2/summary", headers=admin).headers["X-Cache"] == "hit"
    assert commands == []
    # Without the watcher (Redis pub/sub not followed) a cached read is one round trip, as before.
    monkeypatch.setattr(app.extensions["panel"].generations, "current", lambda _key: None)
    assert client.get("/api/v2/summary", headers=admin).headers["X-Cache"] == "hit"
    assert commands == ["EVALSHA"]
    # A bad query is still answered 400 by the view (nothing prefetched), and an anonymous caller 401.
    assert client.get("/api/v2/servers?limit=0", headers=admin).status_code == 400
    assert client.get("/api/v2/servers").status_code == 401


def test_a_write_in_one_worker_reaches_the_cached_reads_of_another(
    app: Any, settings: Any, client: FlaskClient, auth_headers: Headers, server_payload: Any
) -> None:
    """Two apps on one database and Redis stand for two gunicorn workers (or pods)."""
    from panel.app import create_app

    other = create_app(settings)
    try:
        admin = auth_headers("admin")
        reader = other.test_client()
        create(client, admin, server_payload(name="first"))
        assert [i["name"] for i in body(reader.get("/api/v2/servers", headers=admin))["items"]] == ["first"]
        _generations_followed(other)
        assert reader.get("/api/v2/servers", headers=admin).headers["X-Cache"] == "hit"
        create(client, admin, server_payload(name="second"))  # written through the first app
        deadline = time.monotonic() + 10
        while len(body(reader.get("/api/v2/servers", headers=admin))["items"]) != 2:
            assert time.monotonic() < deadline, "the other worker kept serving the stale list"
            time.sleep(0.01)
    finally:
        other.extensions["panel"].close()
