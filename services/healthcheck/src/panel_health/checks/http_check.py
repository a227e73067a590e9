"""HTTP: status code, latency and an optional body match for the panel's endpoints and extra targets.

The request runs under one total deadline (``asyncio.timeout``), not only httpx's per-read timeout: a
peer that sends a byte every half second never trips a per-read timeout and would otherwise hold the
check's thread and connection for as long as it keeps dripping.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from functools import cache

import httpx

from panel_health.checks.base import PREFIX, classify, down, finish, safe_message
from panel_health.results import CheckResult, Observation, Sample, Status, observe
from panel_health.settings import HttpTarget

KIND = "http"


@cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """Built once: loading the CA bundle costs tens of milliseconds of CPU, far more than a check."""
    if verify:
        return ssl.create_default_context()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# A health endpoint's body is small; a larger one is cut here so a misbehaving peer cannot fill memory.
MAX_BODY_BYTES = 1_048_576


async def _fetch(target: HttpTarget, url: str, timeout_seconds: float) -> tuple[httpx.Response, str, float]:
    """The response, its body text (at most MAX_BODY_BYTES) and the latency, all within the deadline."""
    async with (
        asyncio.timeout(timeout_seconds),
        httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=target.follow_redirects,
            verify=tls_context(target.verify_tls),
            headers={"User-Agent": "panel-health"},
        ) as client,
    ):
        request_started = time.monotonic()
        async with client.stream(target.method, url) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_BODY_BYTES:
                    break
            latency = time.monotonic() - request_started
        text = body[:MAX_BODY_BYTES].decode(response.encoding or "utf-8", errors="replace")
        return response, text, latency


def check_http(target: HttpTarget, url: str, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    labels = {"target": target.name}
    try:
        response, text, latency = asyncio.run(_fetch(target, url, timeout_seconds))
    except (TimeoutError, httpx.TimeoutException):
        message = f"no complete response within {timeout_seconds:g}s"
        return down(KIND, target.name, started, "timeout", message, "target")
    except (httpx.HTTPError, OSError) as exc:
        return down(KIND, target.name, started, classify(exc), safe_message(exc), "target")

    samples = [
        Sample(f"{PREFIX}_http_duration_seconds", "Time to the full HTTP response.", latency, labels),
        Sample(
            f"{PREFIX}_http_status_code",
            "HTTP status code of the last response.",
            response.status_code,
            labels,
        ),
    ]
    latency_obs = observe(
        "responseTime", latency, "s", target.latency_warning_seconds, target.latency_critical_seconds
    )
    status_ok = response.status_code in target.expect_status
    status_obs = Observation(
        "statusCode", response.status_code, status=Status.PASS if status_ok else Status.FAIL
    )
    observations = [latency_obs, status_obs]
    if not status_ok:
        return _failed(
            target.name,
            started,
            "bad_status",
            f"HTTP {response.status_code}, expected {', '.join(map(str, target.expect_status))}",
            observations,
            samples,
        )
    if target.body_contains is not None and target.body_contains not in text:
        observations.append(Observation("bodyMatch", "no", status=Status.FAIL))
        return _failed(
            target.name,
            started,
            "body_mismatch",
            "response body lacks the expected text",
            observations,
            samples,
        )
    return finish(KIND, target.name, started, observations, samples, "target", f"HTTP {response.status_code}")


def _failed(
    name: str,
    started: float,
    reason: str,
    message: str,
    observations: list[Observation],
    samples: list[Sample],
) -> CheckResult:
    result = down(KIND, name, started, reason, message, "target", samples=samples)
    result.observations = observations
    return result
