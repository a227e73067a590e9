"""Reachability probes run by the check jobs: a TCP connect, or an HTTP(S) GET, with a timeout."""

from __future__ import annotations

import socket
import time
from typing import Any

import requests

from panel.checks.history import CheckOutcome
from panel.models import utcnow


def _result(up: bool, started: float, error: str | None = None, **details: Any) -> CheckOutcome:
    return CheckOutcome(
        up=up,
        checked_at=utcnow(),
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        error=error,
        details=details,
    )


def tcp_probe(address: str, port: int, timeout: float) -> CheckOutcome:
    started = time.perf_counter()
    try:
        with socket.create_connection((address.strip("[]"), port), timeout=timeout):
            return _result(True, started)
    except OSError as exc:
        return _result(False, started, error=f"{type(exc).__name__}: {exc.strerror or exc}")


def http_probe(scheme: str, address: str, port: int, timeout: float) -> CheckOutcome:
    """GET / : up when the server answers at all below 500 (a 404 still proves it serves)."""
    host = f"[{address.strip('[]')}]" if ":" in address.strip("[]") else address
    url = f"{scheme}://{host}:{port}/"
    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return _result(False, started, error=f"{type(exc).__name__}: cannot GET {url}")
    response.close()
    return _result(response.status_code < 500, started, http_status=response.status_code)


def probe(protocol: str, address: str, port: int, timeout: float) -> CheckOutcome:
    if protocol in ("http", "https"):
        return http_probe(protocol, address, port, timeout)
    return tcp_probe(address, port, timeout)
