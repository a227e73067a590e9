"""Prometheus metrics, correct under gunicorn with several workers (multiprocess mode).

When ``PROMETHEUS_MULTIPROC_DIR`` is set (``panel web`` always sets it) every process writes its
samples to files there and ``/metrics`` aggregates them; otherwise the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

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
CACHE_HITS = Counter("panel_cache_hits_total", "Responses served from the Redis cache.", ["endpoint"])
CACHE_MISSES = Counter(
    "panel_cache_misses_total", "Responses computed because the cache missed.", ["endpoint"]
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def ensure_multiprocess_dir() -> None:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` when it is set but missing (a fresh emptyDir has none)."""
    directory = multiprocess_dir()
    if directory:
        os.makedirs(directory, exist_ok=True)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of every process of this server."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live-gauge files (gunicorn ``child_exit`` hook)."""
    if multiprocess_dir():
        prometheus_multiprocess.mark_process_dead(pid)
