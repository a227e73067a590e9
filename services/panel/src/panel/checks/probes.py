"""Reachability probes, asynchronous so that one worker process can have hundreds in flight.

``tcp``: a TCP connect. ``http``/``https``: ``GET /`` with httpx, up for any answer below 500 (a 404
still proves the server serves). Every probe is bounded by one overall deadline (``timeout``), which
covers name resolution, connecting, TLS and reading, so a server that drips bytes cannot hold a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import httpx

from panel.checks.history import CheckOutcome
from panel.models import utcnow


@dataclass(frozen=True)
class Target:
    server_id: int
    protocol: str
    address: str
    port: int


def _outcome(up: bool, started: float, error: str | None = None, **details: object) -> CheckOutcome:
    return CheckOutcome(
        up=up,
        checked_at=utcnow(),
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        error=error,
        details=details,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return "TimeoutError: no answer within the check timeout"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {reason}"


async def tcp_probe(address: str, port: int, timeout: float) -> CheckOutcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(address.strip("[]"), port)
    except (OSError, TimeoutError) as exc:
        return _outcome(False, started, _describe(exc))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return _outcome(True, started)


def http_url(scheme: str, address: str, port: int) -> str:
    bare = address.strip("[]")
    host = f"[{bare}]" if ":" in bare else bare
    return f"{scheme}://{host}:{port}/"


async def http_probe(
    client: httpx.AsyncClient, scheme: str, address: str, port: int, timeout: float
) -> CheckOutcome:
    url = http_url(scheme, address, port)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            response = await client.get(url, timeout=timeout)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return _outcome(False, started, f"{_describe(exc)} (GET {url})")
    return _outcome(response.status_code < 500, started, http_status=response.status_code)


def http_client(max_connections: int) -> httpx.AsyncClient:
    """One client per round: no keep-alive (each server is asked once), no proxy from the environment."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
        headers={"User-Agent": "panel-check/1", "Connection": "close"},
    )


async def probe(target: Target, timeout: float, client: httpx.AsyncClient) -> CheckOutcome:
    if target.protocol in ("http", "https"):
        return await http_probe(client, target.protocol, target.address, target.port, timeout)
    return await tcp_probe(target.address, target.port, timeout)
