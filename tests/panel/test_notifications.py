"""Notifications on state change: flap suppression, email through a real SMTP server (aiosmtpd), signed
webhooks to a real HTTP receiver, failures and retries, and the admin page that manages channels."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from panel import jobs
from panel.app import create_app
from panel.checks import history
from panel.extensions import db
from panel.models import NotificationChannel, NotificationDelivery, Server, ServerAlertState
from panel.notifications import state
from panel_helpers import make_settings, run_jobs
from sqlalchemy import select
from support.servers import free_port
from support.smtp import SmtpServer
from support.webhook import WebhookReceiver
from ui_helpers import CSRF, sign_in

WEBHOOK_SECRET = "webhook-signing-secret-for-tests"
THRESHOLD = 2


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Any:
    smtp_server.mailbox.clear()
    return smtp_server.mailbox


@pytest.fixture
def hooks(webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    webhook_receiver.reset()
    return webhook_receiver


def _notify_settings(migrated_database: str, redis_url: str, smtp_port: int, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_port": smtp_port,
        "notify_smtp_security": "none",
        "notify_email_from": "panel@example.org",
        "notify_webhook_secret": WEBHOOK_SECRET,
        "notify_failures_before_down": THRESHOLD,
        "notify_timeout_seconds": 5,
        "panel_url": "https://panel.example.org",
        **overrides,
    }
    return make_settings(migrated_database, redis_url, **values)


@pytest.fixture
def app(migrated_database: str, redis_url: str, smtp_server: SmtpServer) -> Iterator[Flask]:
    application = create_app(_notify_settings(migrated_database, redis_url, smtp_server.port))
    yield application
    application.extensions["panel"].engine.dispose()
    application.extensions["panel"].redis.close()


def _server(app: Flask, name: str, port: int = 1) -> int:
    with app.app_context():
        session = db()
        server = Server(name=name, address="127.0.0.1", port=port, protocol="tcp")
        server.set_tags([])
        session.add(server)
        session.commit()
        return server.id


def _channel(app: Flask, kind: str, target: str, server_id: int | None = None) -> int:
    with app.app_context():
        session = db()
        channel = NotificationChannel(kind=kind, target=target, server_id=server_id, enabled=True)
        session.add(channel)
        session.commit()
        return channel.id


def _check(app: Flask, server_id: int, times: int = 1) -> None:
    """Run real check jobs (the worker's path: probe, record_result, commit), then deliveries."""
    for _ in range(times):
        with app.test_request_context():
            jobs.enqueue_check(server_id)
        run_jobs(app)


def _deliveries(app: Flask) -> list[tuple[str, str, int, str | None]]:
    with app.app_context():
        rows = db().scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))
        return [(d.event, d.status, d.attempts, d.last_error) for d in rows]


def _set_port(app: Flask, server_id: int, port: int) -> None:
    with app.app_context():
        server = db().get(Server, server_id)
        assert server is not None
        server.port = port
        db().commit()


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ("ddd", [None, None, "down"]),
        (
            "dduddd",
            [None, None, None, None, None, "down"],
        ),  # a success resets the count; no "up" before "down"
        ("dudududu", [None, None, None, None, None, None, None, None]),  # flapping stays quiet
        ("ddduuddd", [None, None, "down", "up", None, None, None, "down"]),
        ("uuu", [None, None, None]),
    ],
)
def test_flap_suppression_confirms_down_after_n_failures_in_a_row(
    results: str, expected: list[str | None]
) -> None:
    alert = ServerAlertState(server_id=1, consecutive_failures=0, state="unknown")
    seen = [state.transition(alert, result == "u", threshold=3) for result in results]
    assert seen == expected


def test_down_and_up_by_email_and_signed_webhook(
    app: Flask, mailbox: Any, hooks: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    watched = _server(app, "web-1")
    other = _server(app, "db-1")
    _channel(app, "email", "ops@example.org")
    _channel(app, "webhook", hooks.url + "?token=abc")
    _channel(app, "webhook", hooks.url.replace("/hook", "/only-db"), server_id=other)

    _check(app, watched)  # 1 failure: below the threshold, nothing is sent
    assert _deliveries(app) == []
    _check(app, watched)  # 2 failures in a row: confirmed down
    (message,) = mailbox.wait_for(1)
    (call,) = hooks.wait_for(1)
    assert _deliveries(app) == [("down", "sent", 1, None), ("down", "sent", 1, None)]

    assert message["Subject"] == "[Panel] web-1 is DOWN"
    assert message["To"] == "ops@example.org" and message["From"] == "panel@example.org"
    text = message.get_content()
    assert "tcp://127.0.0.1:1" in text and "Error: " in text and "after 2 failed checks" in text
    assert "https://panel.example.org/servers/" in text

    assert call.path == "/hook?token=abc"
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers["X-Panel-Signature"] == expected and call.headers["X-Panel-Event"] == "server.down"
    body = json.loads(call.body)
    assert body["event"] == "server.down" and body["status"] == "down"
    assert body["server"]["name"] == "web-1" and body["server"]["id"] == watched and body["error"]

    _check(app, watched)  # still down: no repeat
    assert len(_deliveries(app)) == 2

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        _set_port(app, watched, listener.getsockname()[1])
        _check(app, watched)  # first success after a confirmed down: up
        mailbox.wait_for(2)
        hooks.wait_for(2)
        _check(app, watched)  # still up: nothing more
    finally:
        listener.close()
    assert mailbox.messages[1]["Subject"] == "[Panel] web-1 is UP"
    assert json.loads(hooks.received[1].body)["event"] == "server.up"
    assert [event for event, *_ in _deliveries(app)] == ["down", "down", "up", "up"]
    assert all(call.path.startswith("/hook") for call in hooks.received)  # db-1's channel never fired


def test_check_all_rounds_notify_too(app: Flask, hooks: WebhookReceiver) -> None:
    """Rounds store results on the check engine's own database thread, outside any app context."""
    server_id = _server(app, "round-1")
    _channel(app, "webhook", hooks.url)
    for _ in range(THRESHOLD):
        with app.test_request_context():
            jobs.enqueue_check_all()
        run_jobs(app)  # runs the job and waits for its round to store the results
    run_jobs(app)  # the deliveries the round queued
    (call,) = hooks.wait_for(1)
    body = json.loads(call.body)
    assert body["event"] == "server.down" and body["server"]["id"] == server_id
    assert _deliveries(app) == [("down", "sent", 1, None)]


def test_flapping_results_send_nothing(app: Flask, hooks: WebhookReceiver) -> None:
    server_id = _server(app, "flappy")
    _channel(app, "webhook", hooks.url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        session = db()
        server = session.get(Server, server_id)
        assert server is not None
        for minute, up in enumerate([False, True, False, True, False, True]):
            outcome = history.CheckOutcome(
                up=up, checked_at=start + timedelta(minutes=minute), error=None if up else "x"
            )
            history.record_result(session, server, outcome)
            session.commit()
        alert = session.get(ServerAlertState, server_id)
        assert alert is not None and alert.state == "up" and alert.consecutive_failures == 0
    assert _deliveries(app) == []


def test_failed_deliveries_say_why_without_secrets_and_can_be_retried(
    app: Flask, hooks: WebhookReceiver, make_user: Callable[..., Any], migrated_database: str, redis_url: str
) -> None:
    server_id = _server(app, "api-1")
    _channel(app, "webhook", hooks.url + "?token=super-secret-token")
    hooks.answer(500)
    _check(app, server_id, times=THRESHOLD)
    hooks.wait_for(1)
    [(event, status, attempts, error)] = _deliveries(app)
    assert (event, status, attempts) == ("down", "failed", 1)
    assert error is not None and "HTTP 500" in error and "super-secret-token" not in error

    admin = make_user("admin")
    browser = app.test_client()
    token = sign_in(browser, admin)
    page = browser.get("/notifications").get_data(as_text=True)
    assert "HTTP 500" in page and "super-secret-token" not in page
    delivery_id = re.search(r'action="/notifications/deliveries/(\d+)/retry"', page)
    assert delivery_id
    browser.post(f"/notifications/deliveries/{delivery_id.group(1)}/retry", data={"csrf_token": token})
    run_jobs(app)
    hooks.wait_for(2)
    assert _deliveries(app) == [("down", "sent", 2, None)]
    again = browser.post(
        f"/notifications/deliveries/{delivery_id.group(1)}/retry", data={"csrf_token": token}
    )
    assert "already sent" in browser.get(again.headers["Location"]).get_data(as_text=True)


def test_email_without_an_smtp_host_fails_with_the_fix(migrated_database: str, redis_url: str) -> None:
    app = create_app(make_settings(migrated_database, redis_url, notify_failures_before_down=1))
    try:
        server_id = _server(app, "lonely")
        _channel(app, "email", "ops@example.org")
        _check(app, server_id)
        [(_, status, _, error)] = _deliveries(app)
        assert (
            status == "failed" and error == "NOTIFY_SMTP_HOST is not set; set it to send email notifications"
        )
    finally:
        app.extensions["panel"].engine.dispose()


def test_smtp_refusing_connections_is_reported(migrated_database: str, redis_url: str) -> None:
    settings = _notify_settings(migrated_database, redis_url, free_port(), notify_failures_before_down=1)
    app = create_app(settings)
    try:
        server_id = _server(app, "mailless")
        _channel(app, "email", "ops@example.org")
        _check(app, server_id)
        [(_, status, _, error)] = _deliveries(app)
        assert status == "failed" and error is not None and error.startswith("SMTP 127.0.0.1:")
        assert "ConnectionRefusedError" in error
    finally:
        app.extensions["panel"].engine.dispose()


def test_a_redis_outage_at_commit_keeps_the_result_and_leaves_the_delivery_pending(
    migrated_database: str, redis_url: str
) -> None:
    """The check result must never be lost because the delivery job could not be queued."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(migrated_database, dead_redis, notify_failures_before_down=1))
    try:
        server_id = _server(app, "no-redis")
        _channel(app, "email", "ops@example.org")
        with app.app_context():
            session = db()
            server = session.get(Server, server_id)
            assert server is not None
            outcome = history.CheckOutcome(up=False, checked_at=datetime.now(UTC), error="refused")
            history.record_result(session, server, outcome)
            session.commit()  # the after-commit enqueue fails quietly
            assert server.status == "down"
        assert _deliveries(app) == [("down", "pending", 0, None)]
    finally:
        app.extensions["panel"].engine.dispose()


def test_admin_manages_channels_from_the_ui(
    app: Flask, mailbox: Any, hooks: WebhookReceiver, make_user: Callable[..., Any]
) -> None:
    server_id = _server(app, "shop-1")
    admin = make_user("admin")
    browser = app.test_client()
    token = sign_in(browser, admin)

    invalid = browser.post(
        "/notifications", data={"kind": "email", "target": "not-an-address", "csrf_token": token}
    )
    assert invalid.status_code == 422 and 'id="target-error"' in invalid.get_data(as_text=True)
    bad_url = browser.post(
        "/notifications", data={"kind": "webhook", "target": "ftp://x", "csrf_token": token}
    )
    assert bad_url.status_code == 422 and "http:// or https:// URL" in bad_url.get_data(as_text=True)
    assert (
        browser.post("/notifications", data={"kind": "sms", "target": "1", "csrf_token": token}).status_code
        == 422
    )

    scoped_form = browser.get(f"/notifications?server_id={server_id}").get_data(as_text=True)
    assert "Only shop-1" in scoped_form
    created = browser.post(
        "/notifications",
        data={
            "kind": "webhook",
            "target": hooks.url + "?key=s3cret",
            "server_id": str(server_id),
            "csrf_token": token,
        },
    )
    assert created.headers["Location"] == f"/servers/{server_id}"
    detail = browser.get(f"/servers/{server_id}").get_data(as_text=True)
    assert hooks.url in detail and "s3cret" not in detail  # the query string may carry a token
    browser.post(
        "/notifications", data={"kind": "email", "target": "oncall@example.org", "csrf_token": token}
    )
    page = browser.get("/notifications").get_data(as_text=True)
    assert "oncall@example.org" in page and "all servers" in page and "s3cret" not in page

    ids = [int(i) for i in re.findall(r'action="/notifications/(\d+)/test"', page)]
    assert len(ids) == 2
    for channel_id in ids:
        browser.post(f"/notifications/{channel_id}/test", data={"csrf_token": token})
    run_jobs(app)
    assert mailbox.wait_for(1)[0]["Subject"] == "[Panel] Test notification"
    assert json.loads(hooks.wait_for(1)[0].body)["event"] == "test"

    browser.post(f"/notifications/{ids[1]}/enabled", data={"enabled": "0", "csrf_token": token})
    assert "paused" in browser.get("/notifications").get_data(as_text=True)
    _check(app, server_id, times=THRESHOLD)
    assert [d[0] for d in _deliveries(app)] == ["test", "test", "down"]  # the paused email channel is skipped
    browser.post(f"/notifications/{ids[0]}/delete", data={"csrf_token": token})
    with app.app_context():
        remaining = list(db().scalars(select(NotificationChannel.target)))
    assert remaining == ["oncall@example.org"]

    operator = make_user("operator")
    other = app.test_client()
    operator_token = sign_in(other, operator)
    assert other.get("/notifications").status_code == 403
    assert (
        other.post(f"/notifications/{ids[1]}/delete", data={"csrf_token": operator_token}).status_code == 403
    )
    assert CSRF.search(other.get("/").get_data(as_text=True))
