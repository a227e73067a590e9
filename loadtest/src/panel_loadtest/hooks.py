"""Locust event listeners: account set-up at start, sampling, counters, and the SLO gate at the end.

Everything that judges or reports runs on the master (or the single local process); workers
only generate load and forward their behaviour counters with each stats report.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from panel_loadtest import runtime
from panel_loadtest.accounts import ProvisioningError, provision, wait_until_ready
from panel_loadtest.gate import GateResult, RunMetrics, evaluate
from panel_loadtest.reports import HTML_FILE, add_verdict_to_html, build_summary, write_reports
from panel_loadtest.shapes import RunClock, snapshot
from panel_loadtest.timeline import longest_success_gap, steady_throughput

logger = logging.getLogger("panel_loadtest")
SAMPLE_INTERVAL_S = 1.0
COUNTERS_KEY = "panel_loadtest_counters"
SLOW_REQUESTS = "slow_requests"


class _RunState:
    clock: RunClock | None = None
    sampler: gevent.Greenlet | None = None


_state = _RunState()


def _is_worker(runner: Runner | None) -> bool:
    return isinstance(runner, WorkerRunner)


@events.init.add_listener
def on_init(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    ctx = runtime.current()
    if _is_worker(runner):
        environment.events.report_to_master.add_listener(_ship_counters)
        return
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(_merge_counters)
    # Once per run, before any user spawns: wrong credentials should stop the run, not fail every request.
    base_url = environment.host or ctx.settings.base_url
    try:
        wait_until_ready(base_url, ctx.settings.ready_timeout)
        provision(base_url, ctx.settings.username, ctx.settings.admin_password(), ctx.settings.account_prefix)
    except ProvisioningError as exc:
        ctx.aborted = str(exc)
        logger.error("load test aborted before start", extra={"reason": ctx.aborted})
        _finish(environment)
        sys.exit(environment.process_exit_code or 2)
    logger.info(
        "test accounts ready",
        extra={"operator": ctx.accounts["operator"].username, "viewer": ctx.accounts["viewer"].username},
    )


@events.request.add_listener
def on_request(response_time: float, exception: BaseException | None = None, **_: Any) -> None:
    """Count answered requests slower than LOADTEST_MAX_REQUEST_MS (on every process; merged on the master).

    Requests that did not answer in time already fail: the users' client gives up after
    LOADTEST_REQUEST_TIMEOUT and Locust records the timeout as a failure.
    """
    ctx = runtime.current()
    if exception is None and response_time > ctx.thresholds.max_request_ms:
        ctx.counters.add(SLOW_REQUESTS)


def _ship_counters(client_id: str, data: dict[str, Any]) -> None:
    data[COUNTERS_KEY] = runtime.current().counters.drain()


def _merge_counters(client_id: str, data: dict[str, Any]) -> None:
    if isinstance(data.get(COUNTERS_KEY), dict):
        runtime.current().counters.merge(data[COUNTERS_KEY])


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    if _is_worker(environment.runner):
        return
    ctx = runtime.current()
    ctx.snapshots.clear()
    _state.clock = RunClock()
    _state.sampler = gevent.spawn(_sample_forever, environment)


def _sample_forever(environment: Environment) -> None:
    while True:
        _take_snapshot(environment)
        gevent.sleep(SAMPLE_INTERVAL_S)


def _take_snapshot(environment: Environment) -> None:
    ctx = runtime.current()
    if _state.clock is None or environment.runner is None:
        return
    elapsed = _state.clock.elapsed()
    stage = ctx.scenario.stage_at(elapsed)
    steady = stage is not None and stage.steady and environment.runner.state == "running"
    ctx.snapshots.append(snapshot(environment.runner, elapsed, steady))


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    if _state.sampler is not None:
        _state.sampler.kill(block=False)
        _state.sampler = None
        _take_snapshot(environment)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_: Any) -> None:
    if _is_worker(environment.runner):
        return
    _finish(environment)


def _finish(environment: Environment) -> GateResult:
    """Judge the run, write the JSON summary and JUnit XML, and set the process exit code."""
    ctx = runtime.current()
    total = environment.stats.total
    duration = _state.clock.elapsed() if _state.clock else 0.0
    metrics = RunMetrics(
        requests=total.num_requests,
        failures=total.num_failures,
        avg_ms=float(total.avg_response_time),
        p95_ms=float(total.get_response_time_percentile(0.95) or 0.0),
        p99_ms=float(total.get_response_time_percentile(0.99) or 0.0),
        duration_s=duration,
        throughput=steady_throughput(ctx.snapshots),
        stress=ctx.stress.result() if ctx.stress is not None else None,
        slow_requests=ctx.counters.counts[SLOW_REQUESTS],
        longest_success_gap_s=longest_success_gap(ctx.snapshots),
    )
    gate = evaluate(metrics, ctx.thresholds, ctx.scenario, aborted=ctx.aborted)
    summary = build_summary(
        scenario=ctx.scenario,
        duration_scale=ctx.settings.duration_scale,
        target=environment.host or ctx.settings.base_url,
        metrics=metrics,
        thresholds=ctx.thresholds,
        gate=gate,
        counters=ctx.counters.summary(),
        per_request=_per_request(environment),
    )
    report_dir = Path(ctx.settings.report_dir)
    paths = write_reports(report_dir, summary, gate, ctx.scenario.name, duration)
    # Locust has written report.html by now (before the quitting event): the verdict goes on top of it.
    if add_verdict_to_html(report_dir / HTML_FILE, gate, ctx.scenario.name):
        paths.append(report_dir / HTML_FILE)
    environment.process_exit_code = gate.exit_code
    log = logger.info if gate.passed else logger.error
    log(gate.summary_line(), extra={"exit_code": gate.exit_code, "reports": [str(p) for p in paths]})
    # One plain line on stdout too, so `kubectl logs` of the master shows the verdict at a glance.
    print(gate.summary_line(), flush=True)
    if ctx.settings.print_summary:
        print(json.dumps(summary, indent=2), flush=True)
    return gate


def _per_request(environment: Environment) -> list[dict[str, Any]]:
    rows = []
    for entry in sorted(environment.stats.entries.values(), key=lambda e: (e.name, e.method)):
        rows.append(
            {
                "name": entry.name,
                "method": entry.method,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "avg_ms": round(float(entry.avg_response_time), 2),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "max_ms": entry.max_response_time,
            }
        )
    return rows
