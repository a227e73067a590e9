"""The SLO gate: compare a finished run's numbers with the thresholds, one verdict per threshold.

Each verdict says what was measured, the limit, and by how much it missed, so a red pipeline
explains itself. Thresholds a scenario does not judge are reported as skipped, not passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from panel_loadtest.scenarios import THRESHOLD_NAMES, Scenario
from panel_loadtest.settings import Thresholds
from panel_loadtest.stress import StressResult
from panel_loadtest.timeline import SteadyThroughput

# Same convention as k6: a distinct code for "ran fine, but the SLO was breached".
EXIT_SLO_BREACHED = 99
EXIT_ABORTED = 2

Outcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class RunMetrics:
    """A finished run's totals, as read from Locust's aggregated statistics on the master."""

    requests: int
    failures: int
    avg_ms: float
    p95_ms: float
    p99_ms: float
    duration_s: float
    throughput: SteadyThroughput | None = None
    stress: StressResult | None = None
    # Answered successfully but slower than the maximum request time: failed as far as the SLO goes.
    slow_requests: int = 0
    longest_success_gap_s: float | None = None

    @property
    def failed_requests(self) -> int:
        return min(self.requests, self.failures + self.slow_requests)

    @property
    def error_rate(self) -> float:
        return self.failed_requests / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Verdict:
    name: str
    outcome: Outcome
    observed: float | None
    limit: float | None
    unit: str
    message: str


@dataclass
class GateResult:
    verdicts: list[Verdict]
    aborted: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.aborted is None and all(v.outcome != "failed" for v in self.verdicts)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.outcome == "failed"]

    @property
    def exit_code(self) -> int:
        if self.aborted is not None:
            return EXIT_ABORTED
        return 0 if self.passed else EXIT_SLO_BREACHED

    def summary_line(self) -> str:
        if self.aborted is not None:
            return f"load test aborted: {self.aborted}"
        if self.passed:
            return "SLO gate passed: " + ", ".join(v.message for v in self.verdicts if v.outcome == "passed")
        return "SLO gate FAILED: " + "; ".join(v.message for v in self.failures)

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "aborted": self.aborted,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


def _upper_bound(name: str, label: str, observed: float, limit: float, unit: str, fmt: str) -> Verdict:
    """A 'must stay below' check; the message gives the miss both absolutely and relatively."""
    shown, bound = format(observed, fmt), format(limit, fmt)
    if observed < limit:
        return Verdict(name, "passed", observed, limit, unit, f"{label} {shown}{unit} < {bound}{unit}")
    over = observed - limit
    relative = f" ({over / limit:.0%} over)" if limit else ""
    return Verdict(
        name,
        "failed",
        observed,
        limit,
        unit,
        f"{label} {shown}{unit} is not below {bound}{unit}: over by {format(over, fmt)}{unit}{relative}",
    )


def _skipped(name: str, why: str) -> Verdict:
    return Verdict(name, "skipped", None, None, "", why)


def evaluate(
    metrics: RunMetrics, thresholds: Thresholds, scenario: Scenario, aborted: str | None = None
) -> GateResult:
    """Judge ``metrics`` against ``thresholds`` for the thresholds ``scenario`` asks for.

    An aborted run (it never started) is one error, with every threshold skipped.
    """
    if aborted is not None:
        return GateResult(
            [_skipped(name, "the run was aborted before it started") for name in THRESHOLD_NAMES],
            aborted=aborted,
        )
    judged = set(scenario.judge)
    verdicts: list[Verdict] = []
    for name in THRESHOLD_NAMES:
        if name not in judged:
            verdicts.append(_skipped(name, f"not judged in the {scenario.name} scenario"))
            continue
        if name == "requests":
            if metrics.requests > 0:
                verdicts.append(
                    Verdict(name, "passed", metrics.requests, 1, "", f"{metrics.requests} requests")
                )
            else:
                verdicts.append(
                    Verdict(name, "failed", 0, 1, "", "no requests were made: is the panel reachable?")
                )
            continue
        if metrics.requests == 0 and name != "stress_capacity":
            verdicts.append(
                Verdict(name, "failed", None, None, "", f"{name}: nothing to measure (no requests)")
            )
            continue
        if name == "avg_response_time":
            verdicts.append(
                _upper_bound(name, "average", metrics.avg_ms, thresholds.max_avg_ms, " ms", ".0f")
            )
        elif name == "p95_response_time":
            verdicts.append(_upper_bound(name, "p95", metrics.p95_ms, thresholds.max_p95_ms, " ms", ".0f"))
        elif name == "p99_response_time":
            verdicts.append(_upper_bound(name, "p99", metrics.p99_ms, thresholds.max_p99_ms, " ms", ".0f"))
        elif name == "error_rate":
            verdicts.append(_error_rate(metrics, thresholds))
        elif name == "success_gap":
            verdicts.append(_success_gap(metrics, thresholds))
        elif name == "throughput":
            verdicts.append(_throughput(metrics, thresholds))
        elif name == "stress_capacity":
            verdicts.append(_stress_capacity(metrics, thresholds))
    return GateResult(verdicts)


def _error_rate(metrics: RunMetrics, thresholds: Thresholds) -> Verdict:
    rate, limit = metrics.error_rate, thresholds.max_error_rate
    detail = f"{metrics.failed_requests} of {metrics.requests} requests failed"
    if metrics.slow_requests:
        detail += (
            f", {metrics.slow_requests} of them by taking longer than {thresholds.max_request_ms:.0f} ms"
            " (LOADTEST_MAX_REQUEST_MS)"
        )
    if rate < limit or (limit == 0 and rate == 0):
        return Verdict("error_rate", "passed", rate, limit, "", f"error rate {rate:.2%} < {limit:.2%}")
    return Verdict(
        "error_rate",
        "failed",
        rate,
        limit,
        "",
        f"error rate {rate:.2%} is not below {limit:.2%}: over by {rate - limit:.2%} ({detail})",
    )


def _success_gap(metrics: RunMetrics, thresholds: Thresholds) -> Verdict:
    limit = thresholds.max_success_gap_s
    if limit == 0:
        return _skipped("success_gap", "LOADTEST_MAX_SUCCESS_GAP_S is 0")
    gap = metrics.longest_success_gap_s
    if gap is None:
        return Verdict("success_gap", "failed", None, limit, " s", "success gap: no user ever ran")
    if gap < limit:
        return Verdict(
            "success_gap",
            "passed",
            gap,
            limit,
            " s",
            f"longest stretch without a success {gap:.1f} s < {limit:g} s",
        )
    return Verdict(
        "success_gap",
        "failed",
        gap,
        limit,
        " s",
        f"no request succeeded for {gap:.1f} s while users were running, "
        f"not below {limit:g} s (LOADTEST_MAX_SUCCESS_GAP_S): the panel stalled or failed every request",
    )


def _throughput(metrics: RunMetrics, thresholds: Thresholds) -> Verdict:
    steady = metrics.throughput
    if thresholds.min_rps == 0:
        return _skipped("throughput", "LOADTEST_MIN_RPS is 0")
    if steady is None:
        return Verdict(
            "throughput",
            "failed",
            None,
            None,
            " req/s",
            "throughput: the run had no steady phase to measure (was it cut short?)",
        )
    required = thresholds.required_rps(steady.users)
    basis = f"over {steady.seconds:.0f} s steady at {steady.users} users"
    if steady.rps >= required:
        return Verdict(
            "throughput",
            "passed",
            steady.rps,
            required,
            " req/s",
            f"throughput {steady.rps:.1f} req/s >= {required:.1f} req/s {basis}",
        )
    short = required - steady.rps
    return Verdict(
        "throughput",
        "failed",
        steady.rps,
        required,
        " req/s",
        f"throughput {steady.rps:.1f} req/s is below {required:.1f} req/s {basis}: "
        f"short by {short:.1f} req/s ({short / required:.0%})",
    )


def _stress_capacity(metrics: RunMetrics, thresholds: Thresholds) -> Verdict:
    result = metrics.stress
    if result is None:
        return Verdict(
            "stress_capacity", "failed", None, None, " users", "stress capacity: no step was judged"
        )
    limit = thresholds.stress_min_users
    last = result.last_passing_users
    broke = f"broke at {result.breaking_users} users" if result.broke else "never broke"
    if last >= limit:
        return Verdict(
            "stress_capacity",
            "passed",
            last,
            limit,
            " users",
            f"held the SLO up to {last} users ({broke}); needed {limit}",
        )
    return Verdict(
        "stress_capacity",
        "failed",
        last,
        limit,
        " users",
        f"held the SLO only up to {last} users ({broke}); needed {limit}: short by {limit - last} users",
    )
