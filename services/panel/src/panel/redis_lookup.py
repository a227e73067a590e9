"""Generation-keyed Redis reads, several in one round trip.

Both Redis caches of the panel (users' auth state, API responses) store entries under
``prefix + generation + suffix``, where the generation is a counter bumped to invalidate everything at
once. A lookup must read the generation, then the entry under it; this Lua script does any number of
such lookups in a single round trip, atomically, so a signed-in cached request costs one round trip
for both its caller's auth state and its response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis
from redis.commands.core import Script

_LOOKUP_MANY = """
local found = {}
for i, generation_key in ipairs(KEYS) do
  local generation = redis.call('GET', generation_key) or '0'
  local key = ARGV[2 * i - 1] .. generation .. ARGV[2 * i]
  found[2 * i - 1] = key
  found[2 * i] = redis.call('GET', key) or false
end
return found
"""
# Registered once: a Script only carries the source and its SHA; the client is passed at call time.
_SCRIPT = Script(None, _LOOKUP_MANY.encode())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Lookup:
    """Where an entry lives: ``prefix + GET(generation_key) + suffix``."""

    generation_key: str
    prefix: str
    suffix: str


@dataclass(frozen=True)
class Found:
    key: str  # the entry's current key, for storing a freshly computed value under it
    value: bytes | None


def lookup_many(client: redis.Redis, lookups: Sequence[Lookup]) -> list[Found]:
    """Every lookup's current key and stored value, in one round trip (raises redis.RedisError)."""
    args: list[str] = []
    for lookup in lookups:
        args += [lookup.prefix, lookup.suffix]
    raw = _SCRIPT(keys=[lookup.generation_key for lookup in lookups], args=args, client=client)
    found: list[Found] = []
    for index in range(len(lookups)):
        key, value = raw[2 * index], raw[2 * index + 1] if 2 * index + 1 < len(raw) else None
        found.append(
            Found(
                key.decode() if isinstance(key, bytes) else str(key),
                value if isinstance(value, bytes) else None,
            )
        )
    return found
