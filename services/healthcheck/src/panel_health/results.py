"""What a check produces: a status, measured observations (for humans/JSON) and metric samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Status(IntEnum):
    """Nagios-style: the value is also the CLI exit code."""

    PASS = 0
    WARN = 1
    FAIL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        # A failed dependency outranks "could not tell"; "could not tell" outranks a warning.
        return {Status.PASS: 0, Status.WARN: 1, Status.UNKNOWN: 2, Status.FAIL: 3}[self]

    @property
    def label(self) -> str:
        return self.name.lower()


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: s.severity, default=Status.PASS)


# Bounded set of reasons a check reports when it is down (used as a metric label value).
REASONS = (
    "ok",
    "deadline_exceeded",
    "timeout",
    "connection_refused",
    "connection_error",
    "dns_error",
    "auth_failed",
    "tls_error",
    "bad_status",
    "body_mismatch",
    "name_mismatch",
    "unreadable",
    "error",
)


@dataclass(frozen=True)
class Observation:
    """One measured value with the thresholds it was judged against."""

    name: str
    value: float | str | None
    unit: str = ""
    warning: float | None = None
    critical: float | None = None
    status: Status = Status.PASS


@dataclass(frozen=True)
class Sample:
    """One Prometheus sample; ``name`` is the full metric name."""

    name: str
    documentation: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    kind: str = "gauge"  # or "counter"


@dataclass
class CheckResult:
    check: str  # kind: http, postgres, redis, rq, tls, resources, logs, perf
    target: str  # instance within the kind ("" when there is only one)
    status: Status
    up: bool
    reason: str = "ok"
    message: str = ""
    duration_seconds: float = 0.0
    observations: list[Observation] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.check}:{self.target}" if self.target else self.check


def grade(
    value: float, warning: float | None, critical: float | None, higher_is_worse: bool = True
) -> Status:
    """Judge a value against optional warning/critical thresholds."""

    def beyond(limit: float | None) -> bool:
        if limit is None:
            return False
        # "warn at 100 jobs" includes 100; "warn under 30 days" excludes 30.
        return value >= limit if higher_is_worse else value < limit

    if beyond(critical):
        return Status.FAIL
    if beyond(warning):
        return Status.WARN
    return Status.PASS


def observe(
    name: str,
    value: float,
    unit: str = "",
    warning: float | None = None,
    critical: float | None = None,
    higher_is_worse: bool = True,
) -> Observation:
    return Observation(
        name=name,
        value=value,
        unit=unit,
        warning=warning,
        critical=critical,
        status=grade(value, warning, critical, higher_is_worse),
    )
