"""The shape shared by all checks, and the mapping from exceptions to bounded reason labels."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from panel_health.results import CheckResult, Observation, Sample, Status, worst

PREFIX = "panel_health"


@dataclass(frozen=True)
class Check:
    """A runnable check: ``run(timeout_seconds)`` must return within about that time."""

    kind: str
    target: str
    timeout_seconds: float
    run: Callable[[float], CheckResult]
    target_label: str | None = None  # the metric label naming the target ("target", "source")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def up_sample(kind: str, up: bool, target_label: str | None, target: str) -> Sample:
    labels = {target_label: target} if target_label else {}
    return Sample(
        f"{PREFIX}_{kind}_up", f"1 if the {kind} check reached its dependency, else 0.", float(up), labels
    )


def classify(exc: BaseException) -> str:
    """Map an exception (from any client library) to a bounded reason label."""
    text = f"{type(exc).__name__} {exc}".lower()
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(item, socket.gaierror):
            return "dns_error"
        if isinstance(item, ssl.SSLError | ssl.CertificateError):
            return "tls_error"
        if isinstance(item, TimeoutError | socket.timeout):
            return "timeout"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "connection refused" in text:
        return "connection_refused"
    if "password authentication failed" in text or "authentication" in text or "noauth" in text:
        return "auth_failed"
    if "name or service not known" in text or "could not translate host name" in text:
        return "dns_error"
    if "ssl" in text or "certificate" in text:
        return "tls_error"
    if "connect" in text or "closed" in text or "reset" in text:
        return "connection_error"
    return "error"


def safe_message(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line message for humans, with any secret value removed."""
    message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


def finish(
    kind: str,
    target: str,
    started: float,
    observations: list[Observation],
    samples: list[Sample],
    target_label: str | None = None,
    message: str = "",
) -> CheckResult:
    """Build a successful (reachable) result whose status is the worst observation."""
    status = worst([o.status for o in observations])
    return CheckResult(
        check=kind,
        target=target,
        status=status,
        up=True,
        message=message,
        duration_seconds=time.monotonic() - started,
        observations=observations,
        samples=[up_sample(kind, True, target_label, target), *samples],
    )


def down(
    kind: str,
    target: str,
    started: float,
    reason: str,
    message: str,
    target_label: str | None = None,
    status: Status = Status.FAIL,
    samples: list[Sample] | None = None,
) -> CheckResult:
    return CheckResult(
        check=kind,
        target=target,
        status=status,
        up=False,
        reason=reason,
        message=message,
        duration_seconds=time.monotonic() - started,
        samples=[up_sample(kind, False, target_label, target), *(samples or [])],
    )
