"""Cache generations pushed to every process, so a cached signed-in read needs no Redis round trip.

Both Redis caches of the panel (users' auth state, API responses) key their entries by a generation
counter that every write increments (``bump``). Reading that counter was the one Redis round trip a
cached request still paid, and under CPU contention a round trip to another process is what costs most.

Here each process keeps the current generations in memory: ``bump`` increments a counter and publishes
its new value on one channel in the same Lua call; a ``Watcher`` thread per process subscribes to the
channel, and re-reads every counter when it (re)subscribes and every ``RESYNC_SECONDS`` (a safety net
for a lost message). ``Local`` caches keep entries under keys that embed the generation they were
read under, so an entry of an older generation is never served: after a bump, the next request in
every process misses locally and goes to Redis.

While the watcher is not subscribed (Redis down, reconnecting), ``current`` answers None and callers
read Redis as before. The window in which a process may still serve a just-invalidated entry is the
time a published message takes to arrive (well under a millisecond on a healthy Redis), about the
same as the window between a commit and its bump.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import redis
from cachetools import TTLCache
from redis.commands.core import Script

CHANNEL = "panel:generations"
RESYNC_SECONDS = 5.0
_BUMP = """
local value = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], KEYS[1] .. '=' .. value)
return value
"""
_BUMP_SCRIPT = Script(None, _BUMP.encode())  # type: ignore[arg-type]
log = logging.getLogger(__name__)
V = TypeVar("V")


def bump(client: redis.Redis, key: str) -> int:
    """Increment the generation ``key`` and tell every process (raises redis.RedisError)."""
    return int(_BUMP_SCRIPT(keys=[key], args=[CHANNEL], client=client))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Watcher:
    """Current values of some generation counters, kept by a subscriber thread of this process."""

    def __init__(self, connect: Callable[[], redis.Redis], keys: Iterable[str]) -> None:
        self._connect = connect
        self._keys = tuple(keys)
        self._values: dict[str, str] = {}
        self._subscribed = False
        self._pid = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def current(self, key: str) -> str | None:
        """The generation of ``key`` now, or None when this process cannot be sure of it."""
        self._ensure_running()
        if not self._subscribed:
            return None
        return self._values.get(key)

    def observe(self, key: str, value: int) -> None:
        """A bump made by this process: count it at once (the published copy may still be on its way)."""
        self._advance(key, value)

    def stop(self) -> None:
        self._stop.set()

    def _advance(self, key: str, value: int) -> None:
        if key not in self._keys:
            return
        with self._lock:
            known = self._values.get(key)
            if known is None or int(known) < value:
                self._values[key] = str(value)

    def _ensure_running(self) -> None:
        # One thread per process: gunicorn forks its workers after the app (and this object) exists.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._subscribed = False
            self._values = {}
            threading.Thread(target=self._run, name="generation-watcher", daemon=True).start()

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set() and self._pid == pid:
            try:
                self._follow()
            except (redis.RedisError, OSError) as exc:
                if self._subscribed:
                    log.warning("generation watcher lost Redis", extra={"error": type(exc).__name__})
            self._subscribed = False
            self._stop.wait(1.0)

    def _follow(self) -> None:
        client = self._connect()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(CHANNEL)
            self._resync(client)  # after subscribing: no bump can fall between the read and the feed
            self._subscribed = True
            next_resync = time.monotonic() + RESYNC_SECONDS
            while not self._stop.is_set():
                message: dict[str, Any] | None = pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    key, _, value = _text(message["data"]).partition("=")
                    if value.isdigit():
                        self._advance(key, int(value))
                if time.monotonic() >= next_resync:
                    self._resync(client)
                    next_resync = time.monotonic() + RESYNC_SECONDS
        finally:
            self._subscribed = False
            pubsub.close()
            client.close()

    def _resync(self, client: redis.Redis) -> None:
        values = client.mget(self._keys)
        self._values = {
            key: _text(value) if value is not None else "0"
            for key, value in zip(self._keys, values, strict=True)
        }


class Local(Generic[V]):
    """A bounded in-process cache with a time to live, keyed by generation-embedding keys."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._entries: TTLCache[str, V] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)
        self._lock = threading.Lock()  # gthread workers share it between threads

    def get(self, key: str) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
