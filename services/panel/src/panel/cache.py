"""Redis cache for read endpoints, invalidated on every write by bumping a generation counter.

Keys embed the generation, so one ``INCR`` makes every older entry unreachable at once (they then
expire by TTL). A Redis outage degrades to computing every response; it never fails a read.

Each entry holds the ETag (a fixed-width quoted hex digest) followed by the body, so a hit serves the
stored bytes as they are: no hashing, no re-serialising.

Prefetch: a view registered with ``prefetch(endpoint, variant_of)`` has its entry read by the auth
loader in the same Redis round trip as the caller's auth state (see ``panel.redis_lookup``); the view's
``get_or_compute`` then uses that result instead of asking Redis again. The prefetched entry is only
ever served by the view itself, after its role check.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import current_app, g, has_app_context, has_request_context, request

from panel import generations
from panel.errors import ApiError
from panel.metrics import CACHE_HITS, CACHE_MISSES
from panel.redis_lookup import Found, Lookup, lookup_many

GENERATION_KEY = "panel:cache:generation"
_ENTRY_PREFIX = "panel:cache:e:"  # "e": entries are ETag + body (older plain-body entries never match)
_ETAG_LENGTH = 2 + 32  # '"' + 16-byte blake2b hex digest + '"'
_PREFETCHED = "cache_prefetched"  # flask.g attribute: {Lookup: Found} read along with the auth state
log = logging.getLogger(__name__)
# Flask endpoint name -> (cache endpoint, function computing the request's variant).
_prefetchers: dict[str, tuple[str, Callable[[], str]]] = {}


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
        value = generations.bump(client, GENERATION_KEY)
    except redis.RedisError:
        log.warning("cache invalidation failed: Redis unreachable")
        return
    local = _local()
    if local is not None:  # this process reads its own write at once
        local[0].observe(GENERATION_KEY, value)


def lookup_for(endpoint: str, variant: str) -> Lookup:
    variant_hash = hashlib.blake2b(variant.encode(), digest_size=16).hexdigest()
    return Lookup(GENERATION_KEY, _ENTRY_PREFIX, f":{endpoint}:{variant_hash}")


def prefetch(view_endpoint: str, cache_endpoint: str, variant_of: Callable[[], str]) -> None:
    """Read the cache entry of requests to ``view_endpoint`` along with the caller's auth state.

    ``variant_of`` computes the same variant the view passes to ``get_or_compute``; when it raises
    ApiError (bad query), nothing is prefetched and the view reports the error as usual.
    """
    _prefetchers[view_endpoint] = (cache_endpoint, variant_of)


def prefetch_lookups() -> list[Lookup]:
    """The cache lookups to do together with the auth-state lookup of this request (maybe none)."""
    if request.method not in ("GET", "HEAD") or request.endpoint not in _prefetchers:
        return []
    cache_endpoint, variant_of = _prefetchers[request.endpoint]
    try:
        return [lookup_for(cache_endpoint, variant_of())]
    except ApiError:
        return []


def remember_prefetched(found: dict[Lookup, Found]) -> None:
    setattr(g, _PREFETCHED, found)


def _local() -> tuple[generations.Watcher, generations.Local[tuple[bytes, str]]] | None:
    """This app's generation watcher and in-process response cache (None outside an app)."""
    if not has_app_context():
        return None
    panel = current_app.extensions.get("panel")
    if panel is None or panel.generations is None:
        return None
    return panel.generations, panel.responses


def _prefetched(lookup: Lookup) -> Found | None:
    if not has_request_context():
        return None
    found: dict[Lookup, Found] | None = g.get(_PREFETCHED)
    return found.pop(lookup, None) if found else None


def get_or_compute(
    client: redis.Redis, endpoint: str, variant: str, ttl: int, compute: Callable[[], bytes]
) -> Cached:
    """The cached body for (endpoint, variant), computing and storing it on a miss."""
    lookup = lookup_for(endpoint, variant)
    local = _local()
    generation = local[0].current(GENERATION_KEY) if local else None
    if local and generation is not None:
        kept = local[1].get(lookup.prefix + generation + lookup.suffix)
        if kept is not None:
            CACHE_HITS.labels(endpoint).inc()
            return Cached(kept[0], kept[1], hit=True)
    found = _prefetched(lookup)
    if found is None:
        try:
            found = lookup_many(client, [lookup])[0]
        except redis.RedisError:
            log.warning("cache read failed: Redis unreachable")
    stored = found.value if found is not None else None
    if stored is not None and len(stored) >= _ETAG_LENGTH:
        CACHE_HITS.labels(endpoint).inc()
        hit = Cached(stored[_ETAG_LENGTH:], stored[:_ETAG_LENGTH].decode(), hit=True)
        if local and found is not None:
            local[1].put(found.key, (hit.body, hit.etag))
        return hit
    CACHE_MISSES.labels(endpoint).inc()
    body = compute()
    etag = etag_for(body)
    if found is not None:
        if local:
            local[1].put(found.key, (body, etag))
        try:
            client.set(found.key, etag.encode() + body, ex=ttl)
        except redis.RedisError:
            log.warning("cache write failed: Redis unreachable")
    return Cached(body, etag, hit=False)
