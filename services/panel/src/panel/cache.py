"""Redis cache for read endpoints, invalidated on every write by bumping a generation counter.

Keys embed the generation, so one ``INCR`` makes every older entry unreachable at once (they then
expire by TTL). A Redis outage degrades to computing every response; it never fails a read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis

from panel.metrics import CACHE_HITS, CACHE_MISSES

GENERATION_KEY = "panel:cache:generation"
log = logging.getLogger(__name__)
# One round trip for a lookup: read the generation, then the entry under it.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. generation .. ARGV[2]
return {key, redis.call('GET', key)}
"""


@dataclass(frozen=True)
class Cached:
    body: bytes
    etag: str
    hit: bool


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def invalidate(client: redis.Redis) -> None:
    """Make every cached response stale (call after each committed write)."""
    try:
        client.incr(GENERATION_KEY)
    except redis.RedisError:
        log.warning("cache invalidation failed: Redis unreachable", exc_info=True)


def get_or_compute(
    client: redis.Redis, endpoint: str, variant: str, ttl: int, compute: Callable[[], bytes]
) -> Cached:
    """The cached body for (endpoint, variant), computing and storing it on a miss."""
    variant_hash = hashlib.blake2b(variant.encode(), digest_size=16).hexdigest()
    try:
        found = client.register_script(_LOOKUP)(
            keys=[GENERATION_KEY], args=["panel:cache:", f":{endpoint}:{variant_hash}"]
        )
        key = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
        stored = found[1] if len(found) > 1 else None
    except redis.RedisError:
        log.warning("cache read failed: Redis unreachable", exc_info=True)
        key, stored = None, None
    if isinstance(stored, bytes):
        CACHE_HITS.labels(endpoint).inc()
        return Cached(stored, etag_for(stored), hit=True)
    CACHE_MISSES.labels(endpoint).inc()
    body = compute()
    if key is not None:
        try:
            client.set(key, body, ex=ttl)
        except redis.RedisError:
            log.warning("cache write failed: Redis unreachable", exc_info=True)
    return Cached(body, etag_for(body), hit=False)
