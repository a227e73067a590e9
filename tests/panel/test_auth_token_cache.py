"""The in-process cache of verified access tokens: it skips verification, never authorisation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import jwt
import pytest
from auth_helpers import bearer, set_active, token_pair
from flask import Flask
from flask.testing import FlaskClient
from panel.auth import tokens
from panel.auth.token_cache import TokenCache
from panel.models import User

pytest_plugins = ["auth_fixtures"]

PROBE = "/api/v2/_probe/any"
SECRET = "s" * 32


@pytest.fixture(autouse=True)
def _empty_token_cache() -> Iterator[None]:
    tokens.access_tokens.clear()
    yield
    tokens.access_tokens.clear()


def test_entries_are_served_until_exp_then_dropped() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put(SECRET, "token", {"sub": "1", "exp": 1010})
    assert cache.get(SECRET, "token") == {"sub": "1", "exp": 1010}
    assert cache.get("another-secret-of-at-least-32-bytes", "token") is None
    now[0] = 1010.0
    assert cache.get(SECRET, "token") is None
    assert len(cache) == 0


def test_the_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = TokenCache(max_entries=2, clock=lambda: 0.0)
    cache.put(SECRET, "a", {"exp": 10})
    cache.put(SECRET, "b", {"exp": 10})
    assert cache.get(SECRET, "a") is not None  # "b" is now the least recently used
    cache.put(SECRET, "c", {"exp": 10})
    assert len(cache) == 2
    assert cache.get(SECRET, "b") is None
    assert cache.get(SECRET, "a") is not None
    assert cache.get(SECRET, "c") is not None


def test_claims_without_exp_are_never_cached() -> None:
    cache = TokenCache(clock=lambda: 0.0)
    cache.put(SECRET, "token", {"sub": "1"})
    assert len(cache) == 0


def test_a_valid_token_is_cached_and_failures_are_not(
    auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    token = token_pair(auth_client, "alice")["access_token"]
    assert auth_client.get(PROBE, headers=bearer(token)).status_code == 200
    assert len(tokens.access_tokens) == 1
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        refused = auth_client.get(PROBE, headers=bearer(tampered))
        assert refused.status_code == 401
        assert "signature is invalid" in refused.get_json()["detail"]
    assert len(tokens.access_tokens) == 1


def test_a_disabled_user_is_refused_even_with_the_token_cached(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    make_auth_user("alice")
    token = token_pair(auth_client, "alice")["access_token"]
    assert auth_client.get(PROBE, headers=bearer(token)).status_code == 200
    set_active(auth_app, "alice", False)
    refused = auth_client.get(PROBE, headers=bearer(token))
    assert refused.status_code == 401
    assert "disabled" in refused.get_json()["detail"]
    set_active(auth_app, "alice", True)
    assert auth_client.get(PROBE, headers=bearer(token)).status_code == 200


def test_an_expired_token_is_never_served_from_the_cache(
    auth_app: Flask, auth_client: FlaskClient, make_auth_user: Callable[..., User]
) -> None:
    user = make_auth_user("alice")
    secret = auth_app.extensions["panel"].settings.jwt_secret
    now = int(time.time())
    claims = {
        "iss": tokens.ISSUER,
        "sub": str(user.id),
        "typ": tokens.ACCESS,
        "jti": "expired-one",
        "iat": now - 120,
        "exp": now - 60,
    }
    token = jwt.encode(claims, secret, algorithm=tokens.ALGORITHM)
    # As if it had been cached while it was still valid.
    tokens.access_tokens.put(secret, token, claims)
    refused = auth_client.get(PROBE, headers=bearer(token))
    assert refused.status_code == 401
    assert "expired" in refused.get_json()["detail"]
    assert len(tokens.access_tokens) == 0
