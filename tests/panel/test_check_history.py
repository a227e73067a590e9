"""Check history (contract C3): one row per result through record_result, cascade, retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from panel import jobs, schema
from panel.checks import history
from panel.db import make_engine
from panel.extensions import db
from panel.models import CheckResult, Server
from panel.settings import load_settings
from panel_helpers import body, run_jobs

Headers = Callable[[str], dict[str, str]]


def _server(app: Flask, name: str = "hist", port: int = 1) -> int:
    with app.app_context():
        session = db()
        server = Server(name=name, address="127.0.0.1", port=port, protocol="tcp")
        server.set_tags([])
        session.add(server)
        session.commit()
        return server.id


def test_a_check_job_stores_one_history_row(app: Flask) -> None:
    server_id = _server(app)
    with app.test_request_context():
        jobs.enqueue_check(server_id)
        jobs.enqueue_check(server_id)
    run_jobs(app)
    with app.app_context():
        rows = history.history(db(), server_id)
        assert len(rows) == 2
        assert all(row.up is False and row.error and row.latency_ms is not None for row in rows)
        assert rows[0].checked_at >= rows[1].checked_at
        server = db().get(Server, server_id)
        assert server is not None and server.status == "down"


def test_record_result_keeps_status_audit_and_history_together(app: Flask) -> None:
    server_id = _server(app)
    with app.app_context():
        session = db()
        server = session.get(Server, server_id)
        assert server is not None
        at = datetime(2026, 1, 1, 12, tzinfo=UTC)
        first = history.record_result(session, server, history.CheckOutcome(up=True, checked_at=at))
        second = history.record_result(
            session,
            server,
            history.CheckOutcome(up=True, checked_at=at + timedelta(minutes=5), latency_ms=1.5),
        )
        third = history.record_result(
            session,
            server,
            history.CheckOutcome(up=False, checked_at=at + timedelta(minutes=10), error="x" * 10_000),
        )
        session.commit()
        assert (first.changed, second.changed, third.changed) == (True, False, True)
        assert third.previous_status == "up" and third.status == "down"
        assert len(third.row.error or "") == history.MAX_ERROR_LENGTH
        assert server.status == "down" and server.last_check_result is not None
        assert server.last_check_result["up"] is False
        assert server.last_check_result["checked_at"] == "2026-01-01T12:10:00+00:00"


def test_deleting_a_server_deletes_its_history(
    app: Flask, client: FlaskClient, auth_headers: Headers
) -> None:
    server_id = _server(app)
    with app.app_context():
        session = db()
        server = session.get(Server, server_id)
        assert server is not None
        history.record_result(session, server, history.CheckOutcome(up=True, checked_at=datetime.now(UTC)))
        session.commit()
    response = client.delete(f"/api/v2/servers/{server_id}", headers=auth_headers("admin"))
    assert response.status_code == 204
    with app.app_context():
        assert db().scalar(sa.select(sa.func.count()).select_from(CheckResult)) == 0


def test_prune_deletes_only_results_past_the_retention(app: Flask) -> None:
    server_id = _server(app)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with app.app_context():
        session = db()
        server = session.get(Server, server_id)
        assert server is not None
        for days_ago in (0, 10, 29, 31, 45, 400):
            outcome = history.CheckOutcome(up=True, checked_at=now - timedelta(days=days_ago))
            history.record_result(session, server, outcome)
        session.commit()
        assert history.prune(session, 30, now=now) == 3
        kept = sorted(
            (now - row.checked_at.replace(tzinfo=UTC)).days for row in history.history(session, server_id)
        )
        assert kept == [0, 10, 29]


def test_the_periodic_round_prunes_with_check_history_days(app: Flask) -> None:
    server_id = _server(app)
    panel = app.extensions["panel"]
    panel.settings = panel.settings.model_copy(update={"check_history_days": 7})
    with app.app_context():
        session = db()
        server = session.get(Server, server_id)
        assert server is not None
        old = history.CheckOutcome(up=True, checked_at=datetime.now(UTC) - timedelta(days=8))
        history.record_result(session, server, old)
        session.commit()
        jobs.queue(panel.redis).enqueue(jobs.periodic_check_all)
    run_jobs(app)
    run_jobs(app)
    with app.app_context():
        rows = history.history(db(), server_id)
        assert len(rows) == 1 and rows[0].checked_at.replace(tzinfo=UTC) > datetime.now(UTC) - timedelta(
            days=1
        )


def test_migration_0002_is_additive_for_the_previous_release(database_url: str) -> None:
    """Rows written by 0001-era code (no credential_generation) still insert after 0002."""
    engine = make_engine(load_settings(environ={}, database_url=database_url))
    try:
        schema.upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (username, role, is_active, created_at) "
                    "VALUES ('old', 'viewer', true, CURRENT_TIMESTAMP)"
                )
            )
        schema.upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (username, role, is_active, created_at) "
                    "VALUES ('old-code-after-0002', 'viewer', true, CURRENT_TIMESTAMP)"
                )
            )
            generations = connection.execute(sa.text("SELECT credential_generation FROM users")).scalars()
            assert list(generations) == [0, 0]
    finally:
        engine.dispose()


def test_history_is_shown_by_the_job_result(
    app: Flask, client: FlaskClient, auth_headers: Headers, server_payload: Any
) -> None:
    operator = auth_headers("operator")
    server = body(client.post("/api/v2/servers", json=server_payload(), headers=operator))
    accepted = body(client.post(f"/api/v2/servers/{server['id']}/check", headers=operator))
    run_jobs(app)
    result = body(client.get(accepted["status_url"], headers=operator))["result"]
    assert result["server_id"] == server["id"] and result["up"] is False and "error" in result
