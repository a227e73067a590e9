"""Failed sign-in throttling (issue 12, item 3): spraying from one address is slowed per address,
guessing one user's password from many addresses is slowed per user with growing delays, and an
attacker can never lock the real user out of their own address."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auth_helpers import PASSWORD
from flask import Flask
from flask.testing import FlaskClient
from panel.auth import ratelimit
from panel.models import User

pytest_plugins = ["auth_fixtures"]

ADDRESS_LIMIT = 5
FREE_FAILURES = 2


@pytest.fixture
def throttled_app(make_auth_app: Callable[..., Flask]) -> Flask:
    return make_auth_app(
        login_rate_limit=3,
        login_address_limit=ADDRESS_LIMIT,
        login_user_free_failures=FREE_FAILURES,
        login_user_max_delay_seconds=60,
    )


def _attempt(client: FlaskClient, username: str, password: str, address: str) -> int:
    response = client.post(
        "/api/v2/auth/token",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_spraying_many_usernames_from_one_address_is_throttled_per_address(
    throttled_app: Flask, make_auth_user: Callable[..., User]
) -> None:
    client = throttled_app.test_client()
    make_auth_user("alice")
    for number in range(ADDRESS_LIMIT):
        assert _attempt(client, f"user{number}", "Winter2026!", "203.0.113.9") == 401
    blocked = client.post(
        "/api/v2/auth/token",
        json={"username": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert _attempt(client, "alice", PASSWORD, "198.51.100.4") == 200  # another address is not


def test_guessing_one_user_from_many_addresses_meets_growing_delays(
    throttled_app: Flask, make_auth_user: Callable[..., User]
) -> None:
    client = throttled_app.test_client()
    make_auth_user("alice")
    for number in range(FREE_FAILURES):
        assert _attempt(client, "alice", f"guess-{number}", f"203.0.113.{number + 1}") == 401
    # Past the free failures: each further attempt, from any new address, waits after the last one.
    blocked = client.post(
        "/api/v2/auth/token",
        json={"username": "alice", "password": "guess-y"},
        environ_base={"REMOTE_ADDR": "203.0.113.101"},
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    # Blocked before the password is looked at: even the right one is refused from a new address.
    assert _attempt(client, "alice", PASSWORD, "203.0.113.102") == 429
    with throttled_app.app_context():
        delays = [ratelimit.user_delay(failures) for failures in range(FREE_FAILURES, FREE_FAILURES + 10)]
    assert delays[:4] == [1, 2, 4, 8] and delays == sorted(delays) and max(delays) == 60


def test_an_attacker_never_locks_the_user_out_of_their_own_address(
    throttled_app: Flask, make_auth_user: Callable[..., User]
) -> None:
    client = throttled_app.test_client()
    make_auth_user("alice")
    home = "198.51.100.20"
    assert _attempt(client, "alice", PASSWORD, home) == 200  # alice signs in from home
    for number in range(20):  # the attack: many addresses, many guesses
        _attempt(client, "alice", f"guess-{number}", f"203.0.113.{number % 4 + 1}")
    assert _attempt(client, "alice", "guess", "203.0.113.200") == 429
    assert _attempt(client, "alice", PASSWORD, home) == 200
