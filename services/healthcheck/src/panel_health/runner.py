"""Run checks concurrently under one deadline.

Each check runs in its own daemon thread with a timeout no longer than the time left, and every check
enforces that timeout on its whole run (not per read). When the deadline passes, whatever has not
answered is reported down with reason ``deadline_exceeded`` and the caller gets its answer on time.

A ``CheckRunner`` keeps at most one run of each check in flight: a scrape that finds a check still
running from an earlier (or a concurrent) scrape waits for that run's result instead of starting
another. So two Prometheus replicas, or a dependency slower than the scrape interval, cost one thread
and one connection per check, never one per scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, wait

from panel_health.checks.base import Check, down
from panel_health.results import CheckResult, Status

log = logging.getLogger(__name__)


def _run_one(check: Check, timeout: float) -> CheckResult:
    started = time.monotonic()
    try:
        result = check.run(timeout)
        if result.reason == "timeout" and timeout < check.timeout_seconds:
            # It ran out of the scrape's time, not its own: say so, like a check still running would.
            result.reason = "deadline_exceeded"
        return result
    except Exception as exc:  # a bug in one check must not take the others down
        log.exception("check crashed", extra={"check": check.key})
        message = f"internal error: {type(exc).__name__}"
        return down(check.kind, check.target, started, "error", message, check.target_label, Status.UNKNOWN)


def _missed(check: Check, deadline_seconds: float, started: float) -> CheckResult:
    log.warning("check missed the deadline", extra={"check": check.key, "deadline_s": deadline_seconds})
    message = f"no answer within the {deadline_seconds:.2f}s deadline"
    return down(check.kind, check.target, started, "deadline_exceeded", message, check.target_label)


class CheckRunner:
    """Runs checks with at most one run of each (by key) in flight across concurrent callers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[CheckResult]] = {}

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _start(self, check: Check, timeout: float) -> Future[CheckResult]:
        with self._lock:
            future = self._in_flight.get(check.key)
            if future is not None:
                return future
            future = Future()
            self._in_flight[check.key] = future
        thread = threading.Thread(
            target=self._work, args=(check, timeout, future), name=f"check-{check.key}", daemon=True
        )
        thread.start()
        return future

    def _work(self, check: Check, timeout: float, future: Future[CheckResult]) -> None:
        result = _run_one(check, timeout)
        with self._lock:
            self._in_flight.pop(check.key, None)
        future.set_result(result)

    def run(self, checks: list[Check], deadline_seconds: float) -> list[CheckResult]:
        """Results in the order of ``checks``; never takes (much) longer than ``deadline_seconds``."""
        started = time.monotonic()
        futures = [
            self._start(check, max(0.05, min(check.timeout_seconds, deadline_seconds))) for check in checks
        ]
        wait(futures, timeout=max(0.0, deadline_seconds))
        return [
            future.result() if future.done() else _missed(check, deadline_seconds, started)
            for check, future in zip(checks, futures, strict=True)
        ]


def run_checks(checks: list[Check], deadline_seconds: float) -> list[CheckResult]:
    """Run ``checks`` once (the CLI's case): a fresh runner, nothing shared with other callers."""
    return CheckRunner().run(checks, deadline_seconds)
