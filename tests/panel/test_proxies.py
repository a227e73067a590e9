"""Behind a real reverse proxy (Debian's nginx in front of `panel web` under gunicorn), each client is
told apart by its own address (issue 12, item 2): throttling, audit and HSTS use the address the proxy
saw, and a client reaching gunicorn directly cannot forge one with X-Forwarded-For."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import db
from panel.models import AuditEntry, User
from panel_helpers import TEST_SECRET, make_settings, migrate
from support.nginx import NginxProxy
from support.servers import free_port, wait_for_port

PASSWORD = "a-long-and-unusual-passphrase"
PROXY_SOURCE = "127.0.0.2"  # nginx's upstream connections leave from here
ALICE_HOME, ATTACKER, FORGER = "127.0.0.4", "127.0.0.3", "127.0.0.5"


def _request(
    port: int,
    method: str,
    path: str,
    source: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    headers = headers or {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **headers} if payload else headers
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        parsed = json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") else raw
        return response.status, dict(response.getheaders()), parsed
    finally:
        connection.close()


def _sign_in(port: int, source: str, password: str, headers: dict[str, str] | None = None) -> int:
    credentials = {"username": "alice", "password": password}
    status, _, _ = _request(port, "POST", "/api/v2/auth/token", source, credentials, headers)
    return status


@pytest.fixture
def web_behind_nginx(tmp_path: Path, redis_url: str, make_settings_env: dict[str, str]) -> Iterator[Any]:
    database_url = f"sqlite:///{tmp_path}/panel.db"
    migrate(database_url)
    app = create_app(make_settings(database_url, redis_url))
    with app.app_context():
        session = db()
        session.add(User(username="alice", role="viewer", password_hash=hash_password(PASSWORD)))
        session.commit()
    app.extensions["panel"].engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        **make_settings_env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "WEB_CONCURRENCY": "1",
        "WEB_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "TRUSTED_PROXIES": "1",
        "TRUSTED_PROXY_NETWORKS": f"{PROXY_SOURCE}/32",
        "LOGIN_RATE_LIMIT": "3",
        "LOGIN_USER_FREE_FAILURES": "100",
    }
    web = subprocess.Popen([sys.executable, "-m", "panel.cli", "web"], env=env)
    proxy = NginxProxy(port, source_address=PROXY_SOURCE)
    tls_proxy = NginxProxy(port, source_address=PROXY_SOURCE, forwarded_proto="https")
    try:
        wait_for_port(port, timeout=120)
        deadline = time.monotonic() + 120
        while _request(port, "GET", "/livez", "127.0.0.1")[0] != 200:
            assert time.monotonic() < deadline and web.poll() is None, "gunicorn never answered"
            time.sleep(0.3)
        proxy.start()
        tls_proxy.start()
        yield port, proxy, tls_proxy, database_url
    finally:
        proxy.stop()
        tls_proxy.stop()
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()


def test_clients_behind_the_proxy_are_told_apart_and_forgery_is_ignored(web_behind_nginx: Any) -> None:
    port, proxy, _tls, database_url = web_behind_nginx
    assert _sign_in(proxy.port, ALICE_HOME, PASSWORD) == 200

    # An attacker behind the same proxy, pretending to be alice's address: only they are throttled.
    statuses = [_sign_in(proxy.port, ATTACKER, "wrong", {"X-Forwarded-For": ALICE_HOME}) for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert _sign_in(proxy.port, ALICE_HOME, PASSWORD) == 200

    # A client reaching gunicorn directly cannot claim another address either.
    for _ in range(4):
        _sign_in(port, FORGER, "wrong", {"X-Forwarded-For": ALICE_HOME})
    assert _sign_in(proxy.port, ALICE_HOME, PASSWORD) == 200

    app = create_app(make_settings(database_url, "redis://127.0.0.1:1/0"))
    with app.app_context():
        entries = [(e.action, (e.changes or {}).get("address")) for e in db().query(AuditEntry)]
    app.extensions["panel"].engine.dispose()
    signed_in = {address for action, address in entries if action == "auth.login"}
    failed = {address for action, address in entries if action == "auth.login_failed"}
    assert signed_in == {ALICE_HOME}
    assert failed == {ATTACKER, FORGER}
    assert PROXY_SOURCE not in signed_in | failed


def test_hsts_only_when_a_trusted_proxy_says_https(web_behind_nginx: Any) -> None:
    port, proxy, tls_proxy, _database_url = web_behind_nginx
    _, through_tls, _ = _request(tls_proxy.port, "GET", "/livez", ALICE_HOME)
    assert through_tls["Strict-Transport-Security"].startswith("max-age=")
    _, plain, _ = _request(proxy.port, "GET", "/livez", ALICE_HOME)
    assert "Strict-Transport-Security" not in plain
    _, forged, _ = _request(port, "GET", "/livez", FORGER, headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged
