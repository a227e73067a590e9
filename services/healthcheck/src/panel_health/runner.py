"""Run checks concurrently under one deadline.

Each check runs in its own daemon thread with a timeout no longer than the time left. When the deadline
passes, whatever has not answered is reported down with reason ``deadline_exceeded`` and the caller gets
its answer on time; the straggler thread ends by itself once its own client timeout fires.
"""

from __future__ import annotations

import logging
import threading
import time

from panel_health.checks.base import Check, up_sample
from panel_health.results import CheckResult, Status

log = logging.getLogger(__name__)


def _run_one(check: Check, timeout: float, results: dict[str, CheckResult]) -> None:
    started = time.monotonic()
    try:
        results[check.key] = check.run(timeout)
    except Exception as exc:  # a bug in one check must not take the others down
        log.exception("check crashed", extra={"check": check.key})
        results[check.key] = CheckResult(
            check=check.kind,
            target=check.target,
            status=Status.UNKNOWN,
            up=False,
            reason="error",
            message=f"internal error: {type(exc).__name__}",
            duration_seconds=time.monotonic() - started,
            samples=[up_sample(check.kind, False, check.target_label, check.target)],
        )


def run_checks(checks: list[Check], deadline_seconds: float) -> list[CheckResult]:
    """Results in the order of ``checks``; never takes (much) longer than ``deadline_seconds``."""
    started = time.monotonic()
    deadline = started + deadline_seconds
    results: dict[str, CheckResult] = {}
    threads: list[tuple[Check, threading.Thread]] = []
    for check in checks:
        timeout = max(0.05, min(check.timeout_seconds, deadline_seconds))
        thread = threading.Thread(
            target=_run_one, args=(check, timeout, results), name=f"check-{check.key}", daemon=True
        )
        thread.start()
        threads.append((check, thread))
    for _, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    ordered: list[CheckResult] = []
    for check, _ in threads:
        result = results.get(check.key)
        if result is None:
            log.warning(
                "check missed the deadline", extra={"check": check.key, "deadline_s": deadline_seconds}
            )
            result = CheckResult(
                check=check.kind,
                target=check.target,
                status=Status.FAIL,
                up=False,
                reason="deadline_exceeded",
                message=f"no answer within the {deadline_seconds:.2f}s deadline",
                duration_seconds=time.monotonic() - started,
                samples=[up_sample(check.kind, False, check.target_label, check.target)],
            )
        ordered.append(result)
    return ordered
