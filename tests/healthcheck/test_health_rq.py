"""RQ check against real queues in the session Redis and a real `rq worker` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from panel_health.checks import build_checks
from panel_health.results import CheckResult, Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings
from rq import Queue, Worker

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.redis


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def worker(redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real RQ worker listening on the `checks` queue only."""
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    process = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", redis_url, "--name", "w-test", "checks"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    connection = redis.Redis.from_url(redis_url)
    _wait_for(
        lambda: Worker.count(queue=Queue("checks", connection=connection)) == 1, "the worker to register"
    )
    yield process
    # The first SIGTERM asks for a warm shutdown (wait for the running job); the second makes it cold.
    process.terminate()
    try:
        process.wait(2)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    connection.close()


def _check(settings: HealthSettings) -> CheckResult:
    return run_checks(build_checks(settings, ("rq",)), 20)[0]


def _jobs(result: CheckResult) -> dict[tuple[str, str], float]:
    return {
        (s.labels["queue"], s.labels["state"]): s.value
        for s in result.samples
        if s.name == "panel_health_rq_jobs"
    }


def test_counts_workers_and_oldest_job(
    make_settings: Callable[..., HealthSettings], redis_url: str, worker: subprocess.Popen[bytes]
) -> None:
    connection = redis.Redis.from_url(redis_url)
    checks = Queue("checks", connection=connection)
    default = Queue("default", connection=connection)  # nobody listens here: jobs stay queued
    before = time.time()
    for _ in range(3):
        default.enqueue("health_rq_jobs.noop")
    failing = checks.enqueue("health_rq_jobs.explode")
    running = checks.enqueue("health_rq_jobs.sleep_for", 30)
    checks.enqueue_in(timedelta(hours=1), "health_rq_jobs.noop")
    _wait_for(lambda: failing.get_status(refresh=True) == "failed", "the failing job to fail")
    _wait_for(lambda: running.get_status(refresh=True) == "started", "the slow job to start")

    result = _check(make_settings(redis_url=redis_url, rq={"queues": ["default", "checks"]}))
    jobs = _jobs(result)
    assert jobs[("default", "queued")] == 3
    assert jobs[("checks", "queued")] == 0
    assert jobs[("checks", "failed")] == 1
    assert jobs[("checks", "started")] == 1
    assert jobs[("checks", "scheduled")] == 1
    workers = {s.labels["queue"]: s.value for s in result.samples if s.name == "panel_health_rq_workers"}
    assert workers == {"default": 0, "checks": 1}
    oldest = {
        s.labels["queue"]: s.value
        for s in result.samples
        if s.name == "panel_health_rq_oldest_queued_job_enqueued_timestamp_seconds"
    }
    assert set(oldest) == {"default"}
    assert before - 1 <= oldest["default"] <= time.time()
    # No worker on `default` is critical (its jobs would wait forever); no worker names in labels.
    assert result.status is Status.FAIL
    assert all(set(s.labels) <= {"queue", "state"} for s in result.samples)
    connection.close()


def test_queue_depth_warns_at_100(make_settings: Callable[..., HealthSettings], redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("default", connection=connection)
    settings = make_settings(redis_url=redis_url, rq={"queues": ["default"], "require_workers": False})
    for _ in range(99):
        queue.enqueue("health_rq_jobs.noop")
    assert _check(settings).status is Status.PASS
    queue.enqueue("health_rq_jobs.noop")
    result = _check(settings)
    assert result.status is Status.WARN
    depth = next(o for o in result.observations if o.name == "default.queued")
    assert (depth.value, depth.warning) == (100, 100)
    connection.close()


def test_configurable_queue_names(make_settings: Callable[..., HealthSettings], redis_url: str) -> None:
    settings = make_settings(redis_url=redis_url, rq={"queues": ["emails"], "require_workers": False})
    result = _check(settings)
    assert result.up and result.status is Status.PASS
    assert {q for q, _ in _jobs(result)} == {"emails"}


def test_default_queues_are_the_panel_workers_and_see_a_stuck_check_now(
    make_settings: Callable[..., HealthSettings], redis_url: str
) -> None:
    # Without an `rq` section the exporter watches the queues the panel's worker serves, "Check now"
    # (panel-high) included: a job stuck there must show up while nothing serves it.
    from panel.jobs import worker_queues

    connection = redis.Redis.from_url(redis_url)
    panel_queues = worker_queues(connection)
    for queue in panel_queues:
        queue.enqueue("health_rq_jobs.noop")
    settings = make_settings(redis_url=redis_url)
    assert settings.rq.queues == [queue.name for queue in panel_queues]
    result = _check(settings)
    assert _jobs(result)[("panel-high", "queued")] == 1
    assert _jobs(result)[("panel", "queued")] == 1
    # No worker on the "Check now" queue is critical, like on any other.
    assert result.status is Status.FAIL
    assert any(o.name == "panel-high.workers" and o.status is Status.FAIL for o in result.observations)
    connection.close()
