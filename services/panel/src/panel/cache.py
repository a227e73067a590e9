"""Redis cache for read endpoints, invalidated on every write by bumping a generation counter.

Keys embed the generation, so one ``INCR`` makes every older entry unreachable at once (they then
expire by TTL). A Redis outage degrades to computing every response; it never fails a read.

Each entry holds the ETag (a fixed-width quoted hex digest) followed by the body, so a hit serves the
stored bytes as they are: no hashing, no re-serialising.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.commands.core import Script

from panel.metrics import CACHE_HITS, CACHE_MISSES

GENERATION_KEY = "panel:cache:generation"
_ENTRY_PREFIX = "panel:cache:e:"  # "e": entries are ETag + body (older plain-body entries never match)
_ETAG_LENGTH = 2 + 32  # '"' + 16-byte blake2b hex digest + '"'
log = logging.getLogger(__name__)
# One round trip for a lookup: read the generation, then the entry under it.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. generation .. ARGV[2]
return {key, redis.call('GET', key)}
"""
# Registered once: the Script object only carries the SHA; the client is passed at call time.
_LOOKUP_SCRIPT = Script(None, _LOOKUP.encode())  # type: ignore[arg-type]


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
        found = _LOOKUP_SCRIPT(
            keys=[GENERATION_KEY], args=[_ENTRY_PREFIX, f":{endpoint}:{variant_hash}"], client=client
        )
        key = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
        stored = found[1] if len(found) > 1 else None
    except redis.RedisError:
        log.warning("cache read failed: Redis unreachable", exc_info=True)
        key, stored = None, None
    if isinstance(stored, bytes) and len(stored) >= _ETAG_LENGTH:
        CACHE_HITS.labels(endpoint).inc()
        return Cached(stored[_ETAG_LENGTH:], stored[:_ETAG_LENGTH].decode(), hit=True)
    CACHE_MISSES.labels(endpoint).inc()
    body = compute()
    etag = etag_for(body)
    if key is not None:
        try:
            client.set(key, etag.encode() + body, ex=ttl)
        except redis.RedisError:
            log.warning("cache write failed: Redis unreachable", exc_info=True)
    return Cached(body, etag, hit=False)
