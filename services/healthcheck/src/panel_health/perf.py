"""``check perf``: N requests, C at a time, against the configured endpoints; latency percentiles,
error ratio and throughput judged against thresholds. A quick smoke gate, not a load test (see loadtest/).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx

from panel_health.checks.base import PREFIX, classify, down, finish
from panel_health.checks.http_check import tls_context
from panel_health.results import CheckResult, Observation, Sample, observe
from panel_health.settings import ConfigError, HealthSettings, HttpTarget

KIND = "perf"


@dataclass(frozen=True)
class Outcome:
    latency_seconds: float
    ok: bool
    reason: str = "ok"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation), so p99 of 100 samples is the 99th value."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.4999)))
    return sorted_values[rank - 1]


def perf_targets(settings: HealthSettings) -> list[tuple[HttpTarget, str]]:
    by_name = {t.name: t for t in settings.http_targets()}
    missing = [name for name in settings.perf.targets if name not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigError(
            [f"perf.targets: unknown HTTP target(s) {', '.join(missing)}; known targets: {known}"]
        )
    return [(by_name[name], settings.target_url(by_name[name])) for name in settings.perf.targets]


async def _fire(
    client: httpx.AsyncClient, target: HttpTarget, url: str, gate: asyncio.Semaphore, timeout_seconds: float
) -> Outcome:
    async with gate:
        started = time.monotonic()
        try:
            # One deadline for the whole request: httpx's own timeout applies per read.
            async with asyncio.timeout(timeout_seconds):
                response = await client.request(target.method, url)
        except TimeoutError:
            return Outcome(time.monotonic() - started, False, "timeout")
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return Outcome(time.monotonic() - started, False, classify(exc))
        latency = time.monotonic() - started
        if response.status_code not in target.expect_status:
            return Outcome(latency, False, "bad_status")
        return Outcome(latency, True)


async def _run(
    settings: HealthSettings, targets: list[tuple[HttpTarget, str]]
) -> tuple[list[Outcome], float]:
    config = settings.perf
    gate = asyncio.Semaphore(config.concurrency)
    limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
    verify = all(t.verify_tls for t, _ in targets)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout_seconds),
        limits=limits,
        verify=tls_context(verify),
        follow_redirects=True,
    ) as client:
        started = time.monotonic()
        jobs = [
            _fire(client, *targets[i % len(targets)], gate, config.timeout_seconds)  # round-robin
            for i in range(config.requests)
        ]
        outcomes = await asyncio.gather(*jobs)
        return list(outcomes), time.monotonic() - started


def run_perf(settings: HealthSettings) -> CheckResult:
    targets = perf_targets(settings)
    config = settings.perf
    started = time.monotonic()
    outcomes, elapsed = asyncio.run(_run(settings, targets))
    errors = [o for o in outcomes if not o.ok]
    if len(errors) == len(outcomes):
        reasons = sorted({o.reason for o in errors})
        return down(
            KIND, "", started, reasons[0], f"all {len(outcomes)} requests failed ({', '.join(reasons)})"
        )
    latencies = sorted(o.latency_seconds for o in outcomes if o.ok)
    error_ratio = len(errors) / len(outcomes)
    throughput = len(outcomes) / elapsed if elapsed > 0 else 0.0
    samples = [
        *(
            Sample(
                f"{PREFIX}_perf_latency_seconds",
                "Latency of the probe's successful requests at this quantile (nearest rank).",
                percentile(latencies, float(quantile)),
                {"quantile": quantile},
            )
            for quantile in ("0.5", "0.95", "0.99")
        ),
        Sample(f"{PREFIX}_perf_error_ratio", "Failed / all requests of the last probe (0-1).", error_ratio),
        Sample(
            f"{PREFIX}_perf_throughput_requests_per_second",
            "Requests per second the last probe achieved.",
            throughput,
        ),
        Sample(f"{PREFIX}_perf_requests", "Requests the last probe made.", len(outcomes)),
    ]
    observations: list[Observation] = [
        observe(
            "p50",
            round(percentile(latencies, 0.50), 4),
            "s",
            config.p50_warning_seconds,
            config.p50_critical_seconds,
        ),
        observe(
            "p95",
            round(percentile(latencies, 0.95), 4),
            "s",
            config.p95_warning_seconds,
            config.p95_critical_seconds,
        ),
        observe(
            "p99",
            round(percentile(latencies, 0.99), 4),
            "s",
            config.p99_warning_seconds,
            config.p99_critical_seconds,
        ),
        observe(
            "errorRatio",
            round(error_ratio, 4),
            "ratio",
            config.error_ratio_warning,
            config.error_ratio_critical,
        ),
        observe(
            "throughput",
            round(throughput, 1),
            "req/s",
            None,
            config.min_throughput_rps,
            higher_is_worse=False,
        ),
        observe("mean", round(statistics.fmean(latencies), 4), "s"),
    ]
    message = (
        f"{len(outcomes)} requests, concurrency {config.concurrency}, {', '.join(t.name for t, _ in targets)}"
    )
    return finish(KIND, "", started, observations, samples, message=message)
