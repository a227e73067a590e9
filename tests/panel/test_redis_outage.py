"""A frozen Redis (SIGSTOP) costs the cache and Redis-backed features, never a 500 (issue 12, item 5).

Session-authenticated requests and "Check now" answer 503 with Retry-After (problem+json on the API,
an HTML page elsewhere); Bearer reads keep working from the database; everything recovers on SIGCONT.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import login_form_token
from flask import Flask
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import db
from panel.models import Server, User
from panel_helpers import body, make_settings, migrate
from support.servers import RedisServer

PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own: freezing the session Redis would stall every other test."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def outage_app(tmp_path: Path, own_redis: RedisServer) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path}/panel.db"
    migrate(url)
    app = create_app(make_settings(url, own_redis.url(), redis_timeout_seconds=0.5))
    with app.app_context():
        session = db()
        session.add(User(username="ops", role="operator", password_hash=hash_password(PASSWORD)))
        server = Server(name="web-1", address="127.0.0.1", port=1)
        server.set_tags([])
        session.add(server)
        session.commit()
    yield app
    app.extensions["panel"].engine.dispose()


def test_a_frozen_redis_gives_503s_and_bearer_reads_keep_working(
    outage_app: Flask, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    browser, api = outage_app.test_client(), outage_app.test_client()
    token = login_form_token(browser)
    signed_in = browser.post("/login", data={"username": "ops", "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302
    pair = body(api.post("/api/v2/auth/token", json={"username": "ops", "password": PASSWORD}))
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    assert api.get("/api/v2/servers", headers=bearer).headers["X-Cache"] == "miss"

    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    caplog.clear()
    page = browser.get("/")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) >= 1
    assert "Briefly unavailable" in page.get_data(as_text=True)

    session_api = browser.get("/api/v2/servers")
    assert session_api.status_code == 503 and session_api.mimetype == "application/problem+json"
    assert "Retry-After" in session_api.headers

    check_now = api.post("/api/v2/servers/1/check", headers=bearer)
    assert check_now.status_code == 503 and check_now.mimetype == "application/problem+json"
    assert "Retry-After" in check_now.headers

    for _ in range(3):
        listing = api.get("/api/v2/servers", headers=bearer)
        assert listing.status_code == 200 and body(listing)["items"][0]["name"] == "web-1"
        assert api.get("/api/v2/servers/1", headers=bearer).status_code == 200
        assert api.get("/api/v2/summary", headers=bearer).status_code == 200
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text

    os.kill(own_redis.process.pid, signal.SIGCONT)
    deadline = time.monotonic() + 60
    while browser.get("/api/v2/servers").status_code != 200:
        assert time.monotonic() < deadline, "the panel never recovered after Redis came back"
        time.sleep(0.2)
    assert api.post("/api/v2/servers/1/check", headers=bearer).status_code == 202
