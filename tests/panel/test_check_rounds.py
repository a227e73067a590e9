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
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from panel import jobs
from panel.app import create_app
from panel.checks import rounds
from panel.extensions import db, resources
from panel.metrics import CHECK_ROUNDS_SKIPPED
from panel.models import Server
from panel_helpers import body, make_settings, migrate, run_jobs
from support.servers import RedisServer, free_port
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
    accepting, up_port = start_http()  # accepts every connection (a bare listen() queue would fill)
    panel = app.extensions["panel"]
    # The test's HTTP server has a listen backlog of 5: keep the probes in flight below what it accepts.
    panel.settings = panel.settings.model_copy(update={"check_concurrency": 4, "check_timeout_seconds": 10})
    try:
        _add_servers(app, 150, up_port, prefix="up")
        _add_servers(app, 50, closed_port(), prefix="down")
        admin = auth_headers("admin")
        accepted = body(client.post("/api/v2/checks", headers=admin))
        queued = body(client.get(accepted["status_url"], headers=admin))
        assert queued["status"] == "queued" and queued["kind"] == "check_all"
        run_jobs(app)
    finally:
        accepting.shutdown()
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
    metrics_port = free_port()
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
        "METRICS_PORT": str(metrics_port),
        "METRICS_ADDRESS": "127.0.0.1",
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
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
        assert 'panel_checks_total{result="up"}' in scraped  # the worker serves its own metrics (C2)
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


def test_a_worker_started_before_redis_waits_for_it(
    tmp_path: Path, make_settings_env: dict[str, str]
) -> None:
    """Drill: Redis comes up after the worker (a pod restart order); no traceback, the job runs."""
    database_url = f"sqlite:///{tmp_path}/panel.db"
    migrate(database_url)
    late_redis = RedisServer()
    env = {**os.environ, **make_settings_env, "DATABASE_URL": database_url, "REDIS_URL": late_redis.url()}
    stderr = tmp_path / "worker.log"
    with stderr.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "panel.cli", "worker", "--burst"], env=env, stderr=sink
        )
    try:
        _wait_for(lambda: "waiting for Redis" in stderr.read_text() or worker.poll() is not None, "the wait")
        assert worker.poll() is None, stderr.read_text()
        late_redis.start()
        assert worker.wait(120) == 0, stderr.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
        late_redis.stop()
    assert "Traceback" not in stderr.read_text()


def test_two_workers_never_run_two_rounds_at_once(app: Flask, settings: Any) -> None:
    """Drill: two worker processes (two apps, two engines) asked for a round at the same moment."""
    from panel.checks.engine import RoundRunning, engine_for

    other = create_app(settings)
    accepting, port = start_http(delay=1.0)
    try:
        _add_servers(app, 8, port, protocol="http", prefix="slowish")
        first = engine_for(app.extensions["panel"])
        second = engine_for(other.extensions["panel"])
        first.start_round("round-a", "manual")
        with pytest.raises(RoundRunning) as refused:
            second.start_round("round-b", "periodic")
        assert refused.value.running == "round-a"
        first.wait("round-a", timeout=120)
        second.start_round("round-c", "periodic")  # the lease is free again once round-a ended
        second.wait("round-c", timeout=120)
        with app.app_context():
            assert (rounds.progress(resources().redis, "round-c") or {}).get("state") == "finished"
    finally:
        accepting.shutdown()
        other.extensions["panel"].close()
