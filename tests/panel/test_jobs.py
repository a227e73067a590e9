"""Background checks on RQ: one server (TCP and HTTP), check-all fan-out, job status, request ids,
the periodic chain, and a real `panel worker` that finishes its current job on SIGTERM."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from panel import jobs, metrics
from panel.app import create_app
from panel.extensions import resources
from panel_helpers import body, make_settings, run_jobs
from rq.job import Job
from rq.registry import ScheduledJobRegistry

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP port something accepts connections on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(404 if self.path != "/" else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


def start_http(delay: float = 0.0) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = type("Handler", (_SlowHandler,), {"delay": delay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_check_one_server_stores_the_result_and_carries_the_request_id(
    app: Flask, client: FlaskClient, auth_headers: Headers, server_payload: Any, listening_port: int
) -> None:
    operator = auth_headers("operator")
    server = body(client.post("/api/v2/servers", json=server_payload(port=listening_port), headers=operator))
    accepted = client.post(
        f"/api/v2/servers/{server['id']}/check", headers={**operator, "X-Request-ID": "req-check-1"}
    )
    assert accepted.status_code == 202
    job_id, status_url = body(accepted)["job_id"], body(accepted)["status_url"]
    assert status_url == f"/api/v2/jobs/{job_id}"
    assert body(client.get(status_url, headers=operator))["status"] == "queued"

    run_jobs(app)

    status = body(client.get(status_url, headers=operator))
    assert status["status"] == "finished"
    assert status["result"]["up"] is True and status["result"]["server_id"] == server["id"]
    assert status["request_id"] == "req-check-1"
    assert datetime.fromisoformat(status["ended_at"]) >= datetime.fromisoformat(status["enqueued_at"])
    with app.app_context():
        assert Job.fetch(job_id, connection=resources().redis).meta["request_id"] == "req-check-1"
    checked = body(client.get(f"/api/v2/servers/{server['id']}", headers=operator))
    assert (
        checked["status"] == "up" and checked["last_check_at"] and checked["last_check_result"]["up"] is True
    )
    audit = body(client.get("/api/v2/audit?target_type=server", headers=operator))["items"]
    assert {"server.check", "server.status"} <= {entry["action"] for entry in audit}
    assert 'panel_jobs_enqueued_total{job="check_server"}' in metrics.exposition()[0].decode()


def test_check_all_fans_out_over_tcp_and_http(
    app: Flask,
    client: FlaskClient,
    auth_headers: Headers,
    server_payload: Any,
    listening_port: int,
    closed_port: int,
) -> None:
    admin = auth_headers("admin")
    http_server, http_port = start_http()
    try:
        for payload in (
            server_payload(name="tcp-up", port=listening_port),
            server_payload(name="tcp-down", port=closed_port),
            server_payload(name="http-up", port=http_port, protocol="http"),
        ):
            assert client.post("/api/v2/servers", json=payload, headers=admin).status_code == 201
        client.get("/api/v2/summary", headers=admin)  # warm the cache: the checks must invalidate it
        accepted = client.post("/api/v2/checks", headers=admin)
        assert accepted.status_code == 202
        run_jobs(app)  # runs check_all, which starts a round on the engine, and waits for the round
    finally:
        http_server.shutdown()
    round_ = body(client.get(body(accepted)["status_url"], headers=admin))
    assert round_["status"] == "finished" and round_["kind"] == "check_all"
    assert {k: round_["result"][k] for k in ("state", "total", "done", "up", "down")} == {
        "state": "finished",
        "total": 3,
        "done": 3,
        "up": 2,
        "down": 1,
    }
    statuses = {s["name"]: s["status"] for s in body(client.get("/api/v2/servers", headers=admin))["items"]}
    assert statuses == {"tcp-up": "up", "tcp-down": "down", "http-up": "up"}
    http_result = body(client.get("/api/v2/servers?q=http-up", headers=admin))["items"][0][
        "last_check_result"
    ]
    assert http_result["http_status"] == 200
    summary = client.get("/api/v2/summary", headers=admin)
    assert summary.headers["X-Cache"] == "miss"
    assert body(summary)["by_status"] == {"unknown": 0, "up": 2, "down": 1}


def test_unknown_job_is_404(client: FlaskClient, auth_headers: Headers) -> None:
    viewer = auth_headers("viewer")
    assert client.get("/api/v2/jobs/no-such-job", headers=viewer).status_code == 404
    assert client.get("/api/v2/jobs/bad%20id", headers=viewer).status_code == 404
    assert client.post("/api/v2/checks", headers=viewer).status_code == 403


def test_periodic_check_all_keeps_exactly_one_chain(app: Flask) -> None:
    panel_resources = app.extensions["panel"]
    panel_resources.settings = panel_resources.settings.model_copy(update={"check_interval_seconds": 600})
    with app.app_context():
        connection = resources().redis
        first = jobs.ensure_periodic(connection, 600)
        again = jobs.ensure_periodic(connection, 600)
        assert first is not None and again is not None and first.id == again.id
        registry = ScheduledJobRegistry(queue=jobs.queue(connection))
        assert registry.get_job_ids() == [first.id]
        # When the periodic job runs, it schedules its successor.
        jobs.queue(connection).enqueue(jobs.periodic_check_all)
    run_jobs(app)
    with app.app_context():
        scheduled = ScheduledJobRegistry(queue=jobs.queue(resources().redis)).get_job_ids()
        assert len(scheduled) == 2 and first.id in scheduled
        assert jobs.ensure_periodic(resources().redis, 0) is None  # interval 0 disables it


def test_worker_finishes_the_current_job_on_sigterm(
    postgres_database: str, redis_url: str, make_settings_env: dict[str, str]
) -> None:
    from panel_helpers import migrate

    migrate(postgres_database)
    slow_http, port = start_http(delay=3.0)
    settings = make_settings(postgres_database, redis_url)
    app = create_app(settings)
    env = {**os.environ, **make_settings_env, "DATABASE_URL": postgres_database, "REDIS_URL": redis_url}
    worker = subprocess.Popen([sys.executable, "-m", "panel.cli", "worker"], env=env, stderr=subprocess.PIPE)
    try:
        with app.test_request_context():
            from panel import inventory
            from panel.extensions import db
            from panel.validation import ServerCreate

            server = inventory.create_server(
                db(), ServerCreate(name="slow", address="127.0.0.1", port=port, protocol="http")
            )
            job = jobs.enqueue_check(server.id)
            connection = resources().redis
        deadline = time.monotonic() + 60
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, "the worker never started the job"
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        job = Job.fetch(job.id, connection=connection)
        assert job.get_status() == "finished"
        result: Any = job.return_value()
        assert result["up"] is True
    finally:
        if worker.poll() is None:
            worker.kill()
        slow_http.shutdown()
        app.extensions["panel"].engine.dispose()
