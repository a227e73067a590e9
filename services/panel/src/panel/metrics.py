"""Prometheus metrics, correct under gunicorn with several workers (multiprocess mode).

When ``PROMETHEUS_MULTIPROC_DIR`` is set (``panel web`` always sets it) every process writes its
samples to files there and the exposition aggregates them; otherwise the default registry is used.

Contract C2: the metrics are served on a listener of their own, ``METRICS_ADDRESS:METRICS_PORT``
(default ``0.0.0.0:9102``; port 0 turns it off), never on the app port, so an ingress that routes
``/`` to the app cannot expose them. gunicorn's master serves it for all its workers (``when_ready``
in ``panel.gunicorn_config``); ``panel worker`` serves its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as prometheus_multiprocess

log = logging.getLogger(__name__)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def ensure_multiprocess_dir() -> None:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` when it is set but missing (a fresh emptyDir has none)."""
    directory = multiprocess_dir()
    if directory:
        os.makedirs(directory, exist_ok=True)


# Before any metric exists: a metric without labels writes its file as soon as it is defined.
ensure_multiprocess_dir()

HTTP_REQUESTS = Counter(
    "panel_http_requests_total",
    "HTTP requests answered, by endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "panel_http_request_duration_seconds",
    "Time spent answering HTTP requests, by endpoint, method and status code.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS_ENQUEUED = Counter("panel_jobs_enqueued_total", "Background jobs enqueued, by job kind.", ["job"])
CHECKS_DONE = Counter(
    "panel_checks_total", "Server checks of check-all rounds stored, by result (up|down).", ["result"]
)
CHECK_ROUND_SECONDS = Histogram(
    "panel_check_round_duration_seconds",
    "Time a check-all round took, from loading the servers to storing the last result.",
    buckets=(1, 5, 10, 30, 60, 120, 180, 240, 300, 450, 600, 900),
)
CHECK_ROUNDS = Counter(
    "panel_check_rounds_total",
    "Check-all rounds run, by trigger (manual|periodic) and how they ended (finished|interrupted).",
    ["trigger", "state"],
)
CHECK_ROUNDS_SKIPPED = Counter(
    "panel_check_rounds_skipped_total",
    "Check-all rounds not started because the previous round was still running, by trigger.",
    ["trigger"],
)
CACHE_HITS = Counter("panel_cache_hits_total", "Responses served from the Redis cache.", ["endpoint"])
CACHE_MISSES = Counter(
    "panel_cache_misses_total", "Responses computed because the cache missed.", ["endpoint"]
)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of every process of this server."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def registry() -> CollectorRegistry:
    if multiprocess_dir():
        aggregated = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(aggregated)
        return aggregated
    return REGISTRY


def serve(port: int, address: str = "0.0.0.0") -> Any:  # noqa: S104 - the pod's metrics port, by contract
    """Serve ``/metrics`` on ``address:port`` from a daemon thread; None when ``port`` is 0."""
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=address, registry=registry())
    except OSError as exc:  # the app keeps serving; Prometheus reports the target down
        log.error(
            "cannot serve metrics; set METRICS_PORT to a free port (0 turns metrics off)",
            extra={"address": f"{address}:{port}", "error": exc.strerror or str(exc)},
        )
        return None
    return server


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live-gauge files (gunicorn ``child_exit`` hook)."""
    if multiprocess_dir():
        prometheus_multiprocess.mark_process_dead(pid)
