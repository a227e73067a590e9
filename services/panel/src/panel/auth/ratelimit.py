"""Failed-login throttling in Redis, per (username, client address), over a fixed window.

Only failures count, so a load test or a script that signs in correctly many times is never throttled,
while guessing passwords stops after ``login_rate_limit`` wrong attempts per window.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from panel import extensions

_KEY = "panel:auth:login-failures:{subject}:{window}"


@dataclass(frozen=True)
class Throttle:
    """The client is blocked for ``retry_after`` more seconds."""

    retry_after: int


def _key(username: str, address: str, now: float) -> tuple[str, int]:
    window_seconds = extensions.settings().login_rate_window_seconds
    window = int(now // window_seconds)
    # Hashed so that the username (which may be a mistyped password) never sits in Redis in clear.
    subject = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()
    retry_after = max(1, int((window + 1) * window_seconds - now))
    return _KEY.format(subject=subject, window=window), retry_after


def check(username: str, address: str) -> Throttle | None:
    """Return a Throttle when this username+address has used up its failures in the current window."""
    key, retry_after = _key(username, address, time.time())
    failures = int(extensions.redis_client().get(key) or 0)
    if failures >= extensions.settings().login_rate_limit:
        return Throttle(retry_after=retry_after)
    return None


def record_failure(username: str, address: str) -> None:
    key, retry_after = _key(username, address, time.time())
    pipe = extensions.redis_client().pipeline()
    pipe.incr(key)
    pipe.expire(key, retry_after + 1)
    pipe.execute()
