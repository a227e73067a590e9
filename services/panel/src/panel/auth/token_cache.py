"""A small in-process LRU of verified access tokens, so a repeat caller skips HMAC and JSON decoding.

Keyed by (signing secret, raw token): a token is only ever reused by an app that would verify it the
same way. Only successful verifications are stored, and an entry is dropped once the token's ``exp``
has passed (without the verifier's leeway: the cache never extends a token's life). The cache holds
claims, not authorisation: the user's active flag and role are still looked up on every request, so
disabling a user or changing a role counts on the very next request whether or not the token is cached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

DEFAULT_MAX_ENTRIES = 4096


class TokenCache:
    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # gunicorn gthread workers share one cache between threads

    def get(self, secret: str, token: str) -> dict[str, Any] | None:
        """The cached claims of a still-unexpired token, or None."""
        key = (secret, token)
        with self._lock:
            claims = self._entries.get(key)
            if claims is None:
                return None
            if self._clock() >= claims["exp"]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return claims

    def put(self, secret: str, token: str, claims: dict[str, Any]) -> None:
        """Remember the claims of a token that has just passed verification."""
        if self._max_entries <= 0 or not isinstance(claims.get("exp"), int | float):
            return
        with self._lock:
            self._entries[(secret, token)] = claims
            self._entries.move_to_end((secret, token))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
