"""Fail fast while Redis is down: a per-process circuit breaker on the Redis connection pool.

Every Redis command is bounded by ``REDIS_TIMEOUT_SECONDS`` (connect and read). After one command
fails with a connection error or a timeout, the breaker opens for ``REDIS_BREAKER_SECONDS``: every
command in this process then fails at once with ``redis.ConnectionError`` instead of waiting for its
own timeout, so a frozen Redis costs one timeout per process per period, not one per request. The
first command after the period goes through and closes the breaker when it succeeds.

Callers keep their own fallbacks (the caches compute or read the database; requests that need Redis
answer 503 with ``Retry-After``: see ``panel.errors``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis


class Breaker:
    def __init__(self, open_seconds: float, clock: Any = time.monotonic) -> None:
        self.open_seconds = open_seconds
        self._clock = clock
        self._open_until = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise redis.ConnectionError while the breaker is open."""
        if self._open_until and self._clock() < self._open_until:
            raise redis.ConnectionError("Redis failed moments ago; not retrying yet")

    def trip(self) -> None:
        with self._lock:
            self._open_until = self._clock() + self.open_seconds

    def reset(self) -> None:
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return bool(self._open_until) and self._clock() < self._open_until


_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)


class _Guarded:
    """Mixed into the pool's connection class: every connect, send and read goes through the breaker."""

    breaker: Breaker

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        self.breaker.check()
        try:
            return super().connect(*args, **kwargs)  # type: ignore[misc]
        except _FAILURES:
            self.breaker.trip()
            raise

    def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
        if self.breaker.is_open:
            self.disconnect()  # type: ignore[attr-defined]
            self.breaker.check()
        try:
            return super().send_packed_command(*args, **kwargs)  # type: ignore[misc]
        except _FAILURES:
            self.breaker.trip()
            raise

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().read_response(*args, **kwargs)  # type: ignore[misc]
        except _FAILURES:
            self.breaker.trip()
            raise
        if self.breaker._open_until:
            self.breaker.reset()
        return response


def guarded_client(url: str, timeout: float, breaker_seconds: float, max_connections: int) -> redis.Redis:
    """A Redis client whose every command takes at most ``timeout`` and that fails fast after a failure."""
    pool = redis.ConnectionPool.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )
    breaker = Breaker(breaker_seconds)
    base = pool.connection_class
    pool.connection_class = type(f"Guarded{base.__name__}", (_Guarded, base), {"breaker": breaker})
    return redis.Redis(connection_pool=pool)


def breaker_of(client: redis.Redis) -> Breaker | None:
    breaker: Breaker | None = getattr(client.connection_pool.connection_class, "breaker", None)
    return breaker
