"""Check-all rounds at scale (issue 12, "Checks at scale"): progress through the job API, no stacking
(skips counted in a metric), interrupted rounds reported, and "Check now" on the high-priority queue
finishing while a round drains on the same single worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from panel import jobs
from panel.app import create_app
from panel.checks import rounds
from panel.extensions import db, resources
from panel.metrics import CHECK_ROUNDS_SKIPPED
from panel.models import Server
from panel_helpers import body, make_settings, migrate, run_jobs
from test_jobs import start_http

Headers = Callable[[str], dict[str, str]]


def _add_servers(app: Flask, count: int, port: int, protocol: str = "tcp", prefix: str = "s") -> None:
    with app.app_context():
        session = db()
        for number in range(count):
            server = Server(name=f"{prefix}-{number:05d}", address="127.0.0.1", port=port, protocol=protocol)
            server.set_tags([])
            session.add(server)
        session.commit()


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_round_reports_progress_and_completion(
    app: Flask, client: FlaskClient, auth_headers: Headers
) -> None:
    with socket_listening() as up_port:
        _add_servers(app, 150, up_port, prefix="up")
        _add_servers(app, 50, closed_port(), prefix="down")
        admin = auth_headers("admin")
        accepted = body(client.post("/api/v2/checks", headers=admin))
        queued = body(client.get(accepted["status_url"], headers=admin))
        assert queued["status"] == "queued" and queued["kind"] == "check_all"
        run_jobs(app)
    done = body(client.get(accepted["status_url"], headers=admin))
    assert done["status"] == "finished" and done["ended_at"]
    result = done["result"]
    assert (result["state"], result["total"], result["done"]) == ("finished", 200, 200)
    assert (result["up"], result["down"]) == (150, 50)
    summary = body(client.get("/api/v2/summary", headers=admin))
    assert summary["by_status"] == {"unknown": 0, "up": 150, "down": 50}


def test_a_round_never_stacks_and_the_skip_is_counted(
    app: Flask, client: FlaskClient, auth_headers: Headers
) -> None:
    admin = auth_headers("admin")
    with app.app_context():
        connection = resources().redis
        held = rounds.acquire(connection, "round-still-running")
        assert held is not None
    before = CHECK_ROUNDS_SKIPPED.labels("periodic")._value.get()
    with app.app_context():
        meta = {"kind": "periodic_check_all"}
        periodic = jobs.queue(connection).enqueue(jobs.periodic_check_all, meta=meta)
    manual = body(client.post("/api/v2/checks", headers=admin))
    run_jobs(app)
    assert CHECK_ROUNDS_SKIPPED.labels("periodic")._value.get() == before + 1
    for job_id in (periodic.id, manual["job_id"]):
        shown = body(client.get(f"/api/v2/jobs/{job_id}", headers=admin))
        assert shown["status"] == "finished"
        assert shown["result"]["state"] == "skipped"
        assert shown["result"]["running_round"] == "round-still-running"
    held.release()
    again = body(client.post("/api/v2/checks", headers=admin))
    run_jobs(app)
    assert body(client.get(again["status_url"], headers=admin))["result"]["state"] == "finished"


def test_a_round_whose_worker_died_is_reported_failed(
    app: Flask, client: FlaskClient, auth_headers: Headers
) -> None:
    admin = auth_headers("admin")
    with app.app_context():
        connection = resources().redis
        job = jobs.queue(connection).enqueue(jobs.check_all, meta={"kind": "check_all"})
        rounds.start(connection, job.id, "manual")  # as a worker would, then kill -9: no lease
        job.set_status("finished")
    shown = body(client.get(f"/api/v2/jobs/{job.id}", headers=admin))
    assert shown["status"] == "failed"
    assert "stopped" in shown["result"]["error"]


# ---- a real `panel worker` process ----


class socket_listening:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        return int(self.sock.getsockname()[1])

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker_app(postgres_database: str, redis_url: str) -> Iterator[Flask]:
    migrate(postgres_database)
    app = create_app(make_settings(postgres_database, redis_url))
    yield app
    app.extensions["panel"].engine.dispose()


def test_check_now_finishes_while_a_round_drains_on_one_worker(
    worker_app: Flask, postgres_database: str, redis_url: str, make_settings_env: dict[str, str]
) -> None:
    slow_http, slow_port = start_http(delay=2.0)
    fast_http, fast_port = start_http()
    # 60 servers answering after 2 s, 4 at a time: the round takes about 30 s.
    _add_servers(worker_app, 60, slow_port, protocol="http", prefix="slow")
    _add_servers(worker_app, 1, fast_port, protocol="http", prefix="fast")
    env = {
        **os.environ,
        **make_settings_env,
        "DATABASE_URL": postgres_database,
        "REDIS_URL": redis_url,
        "CHECK_CONCURRENCY": "4",
        "CHECK_TIMEOUT_SECONDS": "10",
    }
    worker = subprocess.Popen([sys.executable, "-m", "panel.cli", "worker"], env=env)
    try:
        with worker_app.test_request_context():
            round_job = jobs.enqueue_check_all()
            connection = resources().redis
            _wait_for(lambda: (rounds.progress(connection, round_job.id) or {}).get("done", 0) >= 4, "round")
            fast_id = db().query(Server.id).filter(Server.name == "fast-00000").scalar()
            check_now = jobs.enqueue_check(fast_id)
            assert check_now.origin == jobs.HIGH_QUEUE_NAME
        _wait_for(lambda: check_now.get_status(refresh=True) == "finished", "Check now")
        progress = rounds.progress(connection, round_job.id)
        assert progress is not None and progress["state"] == "running", progress
        assert progress["done"] < progress["total"]
        assert check_now.return_value()["up"] is True
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        stopped = rounds.progress(connection, round_job.id)
        assert stopped is not None and stopped["state"] == "interrupted"
        assert rounds.running_round(connection) is None  # the lease went with the round
    finally:
        if worker.poll() is None:
            worker.kill()
        slow_http.shutdown()
        fast_http.shutdown()
