"""Snapshots of the running totals, and the numbers the gate derives from them.

Locust's own "total req/s" averages over the whole run, ramp-up included. The master
therefore snapshots the cumulative counters about once a second and the throughput verdict
uses only the intervals the scenario marks as steady.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    """Cumulative totals at ``elapsed`` seconds into the run."""

    elapsed: float
    users: int
    requests: int
    failures: int
    response_time_sum_ms: float
    steady: bool = False


@dataclass(frozen=True)
class WindowMetrics:
    """What happened between two snapshots."""

    seconds: float
    requests: int
    failures: int
    avg_ms: float | None
    error_rate: float | None
    rps: float

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot) -> WindowMetrics:
        seconds = max(end.elapsed - start.elapsed, 0.0)
        requests = end.requests - start.requests
        failures = end.failures - start.failures
        return cls(
            seconds=seconds,
            requests=requests,
            failures=failures,
            avg_ms=(end.response_time_sum_ms - start.response_time_sum_ms) / requests if requests else None,
            error_rate=failures / requests if requests else None,
            rps=requests / seconds if seconds else 0.0,
        )


@dataclass(frozen=True)
class SteadyThroughput:
    rps: float
    seconds: float
    users: int


def steady_throughput(snapshots: list[Snapshot]) -> SteadyThroughput | None:
    """Requests per second over the intervals whose both ends are steady; None if there are none."""
    seconds = 0.0
    requests = 0
    users = 0
    for before, after in itertools.pairwise(snapshots):
        if before.steady and after.steady and after.elapsed > before.elapsed:
            seconds += after.elapsed - before.elapsed
            requests += after.requests - before.requests
            users = max(users, before.users, after.users)
    if seconds <= 0:
        return None
    return SteadyThroughput(rps=requests / seconds, seconds=seconds, users=users)


def longest_success_gap(snapshots: list[Snapshot]) -> float | None:
    """The longest stretch, in seconds, while users were running without one successful request.

    A request is counted when it completes, so a panel that hangs shows as no completions at all; a
    panel that fails fast shows as failures only. Both are gaps. None when no user ever ran.
    """
    longest = 0.0
    gap_started: float | None = None
    previous_successes: int | None = None
    ran = False
    for snap in snapshots:
        successes = snap.requests - snap.failures
        if snap.users <= 0:
            gap_started, previous_successes = None, successes
            continue
        ran = True
        if gap_started is None or (previous_successes is not None and successes > previous_successes):
            gap_started = snap.elapsed
        longest = max(longest, snap.elapsed - gap_started)
        previous_successes = successes
    return longest if ran else None
