"""panel-health against the real panel: gunicorn (`panel web`) and the RQ worker (`panel worker`) as
subprocesses, on the session PostgreSQL and Redis, after `panel migrate`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from panel_health.checks import build_checks
from panel_health.perf import run_perf
from panel_health.results import Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings
from rq import Queue, Worker
from support.running_panel import RunningPanel

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_checks_against_the_real_panel(
    make_settings: Callable[..., HealthSettings], real_panel: RunningPanel
) -> None:
    settings = make_settings(
        panel_url=real_panel.url,
        database_url=real_panel.database_url,
        redis_url=real_panel.redis_url,
        perf={"requests": 40, "concurrency": 4, "targets": ["health", "api"]},
        # The verdicts under test are reachability and correctness, not the latency of a busy CI box.
        postgres={"latency_warning_seconds": 30, "latency_critical_seconds": 60},
        redis={"latency_warning_seconds": 30, "latency_critical_seconds": 60},
    )
    # The shared harness waits for a registered worker; it must listen on the queue the exporter watches.
    connection = redis.Redis.from_url(real_panel.redis_url)
    try:
        assert Worker.count(queue=Queue(settings.rq.queues[0], connection=connection)) >= 1
    finally:
        connection.close()

    results = {r.key: r for r in run_checks(build_checks(settings), 30)}
    for key in ("http:health", "http:main", "http:api", "postgres", "redis", "rq"):
        assert results[key].up, (key, results[key].reason, results[key].message)
        assert results[key].status is not Status.FAIL, (key, results[key].observations)
    status_codes = {r.target: r.observations[1].value for r in results.values() if r.check == "http"}
    assert status_codes == {"health": 200, "main": 200, "api": 200}

    perf = run_perf(settings)
    assert perf.up
    error_ratio = next(o for o in perf.observations if o.name == "errorRatio")
    assert error_ratio.value == 0
