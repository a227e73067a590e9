"""The auth-state cache: signed-in requests skip the database, yet user changes count at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from argon2 import PasswordHasher
from auth_helpers import PASSWORD, bearer, query_users, set_active, token_pair
from flask import Flask
from flask.testing import FlaskClient
from panel.models import User
from panel.user_cache import GENERATION_KEY
from sqlalchemy import event

pytest_plugins = ["auth_fixtures"]

PROBE = "/api/v2/_probe/any"
WRITE = "/api/v2/_probe/write"


def _count_checkouts(app: Flask) -> list[Any]:
    checkouts: list[Any] = []
    event.listen(app.extensions["panel"].engine, "checkout", lambda *args: checkouts.append(args))
    return checkouts


def test_a_cached_caller_costs_no_database_connection(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice", "operator")
    token = token_pair(auth_client, "alice")["access_token"]
    assert auth_client.get(PROBE, headers=bearer(token)).status_code == 200  # fills the cache
    checkouts = _count_checkouts(auth_app)
    for _ in range(3):
        response = auth_client.get(PROBE, headers=bearer(token))
        assert response.get_json() == {"username": "alice", "role": "operator"}
    assert checkouts == []


def _eventually(request: Any, done: Any, seconds: float = 10.0) -> Any:
    """Repeat ``request`` until ``done(response)``; fail after ``seconds`` (a generous bound)."""
    deadline = time.monotonic() + seconds
    while True:
        response = request()
        if done(response):
            return response
        assert time.monotonic() < deadline, f"still {response.status_code} after {seconds}s"
        time.sleep(0.005)


def test_role_changes_and_disabling_through_the_api_count_on_the_next_request_in_every_worker(
    make_auth_app: Callable[..., Flask], make_auth_user: Callable[..., User]
) -> None:
    # Two apps on the same database and Redis stand for two gunicorn workers.
    worker_a, worker_b = make_auth_app(), make_auth_app()
    client_a, client_b = worker_a.test_client(), worker_b.test_client()
    make_auth_user("ada", "admin")
    vera = make_auth_user("vera", "viewer")
    admin = bearer(token_pair(client_a, "ada")["access_token"])
    viewer = bearer(token_pair(client_a, "vera")["access_token"])
    assert client_b.get(PROBE, headers=viewer).get_json()["role"] == "viewer"
    assert client_b.post(WRITE, headers=viewer).status_code == 403

    promoted = client_a.patch(f"/api/v2/users/{vera.id}", json={"role": "operator"}, headers=admin)
    assert promoted.status_code == 200
    # A role change is a credential change (panel.credentials): the old token ends in every worker,
    # in worker A at once, in B as soon as the published generation arrives (panel.generations).
    assert client_a.get(PROBE, headers=viewer).status_code == 401
    stale = _eventually(lambda: client_b.get(PROBE, headers=viewer), lambda r: r.status_code == 401)
    assert "sign in again" in stale.get_json()["detail"]
    viewer = bearer(token_pair(client_b, "vera")["access_token"])
    assert client_b.get(PROBE, headers=viewer).get_json()["role"] == "operator"
    assert client_b.post(WRITE, headers=viewer).status_code == 200

    disabled = client_a.patch(f"/api/v2/users/{vera.id}", json={"is_active": False}, headers=admin)
    assert disabled.status_code == 200
    refused = _eventually(lambda: client_b.get(PROBE, headers=viewer), lambda r: r.status_code == 401)
    assert "disabled" in refused.get_json()["detail"]


def test_bulk_orm_updates_invalidate_too_and_rollbacks_do_not(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    token = bearer(token_pair(auth_client, "alice")["access_token"])
    assert auth_client.get(PROBE, headers=token).status_code == 200
    client = redis.Redis.from_url(auth_app.extensions["panel"].settings.redis_url)
    before = int(client.get(GENERATION_KEY) or 0)
    with auth_app.app_context():
        session = auth_app.extensions["panel"].sessions()
        session.query(User).filter_by(username="alice").update({"role": "admin"})
        session.rollback()
        auth_app.extensions["panel"].sessions.remove()
    assert int(client.get(GENERATION_KEY) or 0) == before
    set_active(auth_app, "alice", False)  # a bulk query(User).update(), committed
    assert int(client.get(GENERATION_KEY) or 0) == before + 1
    assert auth_client.get(PROBE, headers=token).status_code == 401
    client.close()


def test_without_redis_callers_are_still_authenticated_from_the_database(
    make_auth_app: Callable[..., Flask], make_auth_user: Callable[..., User], auth_app: Flask
) -> None:
    from support.servers import free_port

    make_auth_user("alice", "operator")
    token = bearer(token_pair(auth_app.test_client(), "alice")["access_token"])
    offline = make_auth_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = offline.test_client().get(PROBE, headers=token)
    assert response.status_code == 200
    assert response.get_json()["role"] == "operator"


def test_argon2_parameters_are_configurable_and_old_hashes_are_upgraded_on_sign_in(
    make_auth_app: Callable[..., Flask], make_auth_user: Callable[..., User]
) -> None:
    app = make_auth_app(argon2_memory_kib=8192, argon2_time_cost=3, argon2_parallelism=1)
    client = app.test_client()
    # A hash made with argon2-cffi's own (heavier) defaults, as older panels stored them.
    legacy = PasswordHasher().hash(PASSWORD)
    user = make_auth_user("old-timer")
    with app.app_context():
        session = app.extensions["panel"].sessions()
        session.query(User).filter_by(id=user.id).update({"password_hash": legacy})
        session.commit()
        app.extensions["panel"].sessions.remove()
    token_pair(client, "old-timer")
    [stored] = [u.password_hash for u in query_users(app) if u.username == "old-timer"]
    assert stored is not None and "$m=8192,t=3,p=1$" in stored
    token_pair(client, "old-timer")  # the upgraded hash verifies
