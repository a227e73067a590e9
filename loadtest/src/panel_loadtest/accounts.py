"""Test accounts: the bootstrap admin creates one operator and one viewer through the API.

Their passwords are derived from the admin's password (HMAC), so every Locust worker knows
them without any coordination and nothing secret travels between processes or onto argv.
Re-running is safe: an existing account gets its role and password reset instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import httpx

ROLES = ("admin", "operator", "viewer")


class ProvisioningError(Exception):
    """The panel refused to log the admin in or to create an account; the message says why."""


@dataclass(frozen=True)
class Account:
    role: str
    username: str
    password: str = ""

    def __repr__(self) -> str:  # never show the password in logs or tracebacks
        return f"Account(role={self.role!r}, username={self.username!r})"


def derived_password(admin_password: str, username: str) -> str:
    digest = hmac.new(admin_password.encode(), f"panel-loadtest:{username}".encode(), hashlib.sha256).digest()
    # Prefix and mix of classes so any reasonable password policy accepts it.
    return "Lt-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:29] + "9a"


def accounts_for(admin_username: str, admin_password: str, prefix: str) -> dict[str, Account]:
    """The account each role's users log in with (admin: the bootstrap account itself)."""
    accounts = {"admin": Account("admin", admin_username, admin_password)}
    for role in ("operator", "viewer"):
        username = f"{prefix}-{role}"
        accounts[role] = Account(role, username, derived_password(admin_password, username))
    return accounts


def _problem(response: httpx.Response) -> str:
    """The useful part of an error response (problem+json detail/title) without echoing secrets."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        text = body.get("detail") or body.get("title") or body.get("error") or ""
        return f"HTTP {response.status_code} {text}".strip()
    return f"HTTP {response.status_code}"


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = body.get("items", [])
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def admin_token(client: httpx.Client, username: str, password: str) -> str:
    try:
        response = client.post("/api/v2/auth/token", json={"username": username, "password": password})
    except httpx.HTTPError as exc:
        raise ProvisioningError(f"cannot reach the panel at {client.base_url}: {exc}") from None
    if response.status_code != 200:
        raise ProvisioningError(
            f"the panel refused to log in LOADTEST_USERNAME={username!r} ({_problem(response)}); "
            "set LOADTEST_USERNAME/LOADTEST_PASSWORD to an existing admin account"
        )
    return str(response.json()["access_token"])


def provision(
    base_url: str, admin_username: str, admin_password: str, prefix: str, timeout: float = 10.0
) -> dict[str, Account]:
    """Make sure the operator and viewer accounts exist with their derived passwords."""
    accounts = accounts_for(admin_username, admin_password, prefix)
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        token = admin_token(client, admin_username, admin_password)
        client.headers["Authorization"] = f"Bearer {token}"
        for role in ("operator", "viewer"):
            _ensure_account(client, accounts[role])
    return accounts


def _ensure_account(client: httpx.Client, account: Account) -> None:
    payload = {
        "username": account.username,
        "password": account.password,
        "role": account.role,
        "email": f"{account.username}@loadtest.invalid",
    }
    created = client.post("/api/v2/users", json=payload)
    if created.status_code in (200, 201):
        return
    if created.status_code == 403:
        raise ProvisioningError(
            f"LOADTEST_USERNAME is not an admin: creating {account.username} was refused (403)"
        )
    if created.status_code not in (400, 409, 422):
        raise ProvisioningError(f"creating account {account.username} failed: {_problem(created)}")
    match = _find_user(client, account.username)
    if match is None:
        raise ProvisioningError(f"creating account {account.username} failed: {_problem(created)}")
    updated = client.patch(
        f"/api/v2/users/{match['id']}",
        json={"password": account.password, "role": account.role, "is_active": True},
    )
    if not updated.is_success:
        raise ProvisioningError(f"resetting account {account.username} failed: {_problem(updated)}")


def _find_user(client: httpx.Client, username: str) -> dict[str, Any] | None:
    """Page through GET /api/v2/users (cursor pagination) looking for ``username``."""
    params: dict[str, str | int] = {"limit": 200}
    for _ in range(100):
        response = client.get("/api/v2/users", params=params)
        if not response.is_success:
            raise ProvisioningError(f"listing users failed: {_problem(response)}")
        body = response.json()
        found = next((u for u in _items(body) if u.get("username") == username), None)
        cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if found is not None or not cursor:
            return found
        params = {"limit": 200, "cursor": str(cursor)}
    return None


def wait_until_ready(base_url: str, timeout: float, interval: float = 1.0) -> None:
    """Poll ``/readyz`` until the panel answers 200 (in a cluster it may still be starting)."""
    import time

    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=base_url, timeout=min(5.0, max(timeout, 0.5))) as client:
        while True:
            try:
                response = client.get("/readyz")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                raise ProvisioningError(
                    f"the panel at {base_url} was not ready within {timeout:.0f} s (last /readyz: {last}); "
                    "check PANEL_URL and that the panel is running"
                )
            time.sleep(interval)
