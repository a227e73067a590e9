"""Failed sign-in throttling in Redis, on three keys, so that neither spraying nor distributed guessing
works and an attacker can never lock the real user out of their own address.

1. Per (username, address): ``LOGIN_RATE_LIMIT`` (10) failures per ``LOGIN_RATE_WINDOW_SECONDS`` (300)
   window, then 429 until the window ends. A person mistyping their own password hits only this one.
2. Per address, any usernames: ``LOGIN_ADDRESS_LIMIT`` (50) failures per window, then 429 for that
   address. One wrong password for each of many usernames (spraying) is slowed here.
3. Per username, any address: after ``LOGIN_USER_FREE_FAILURES`` (5) failures in a window, every further
   attempt must wait a growing delay after the previous failure (1 s, 2 s, 4 s, ... up to
   ``LOGIN_USER_MAX_DELAY_SECONDS``, 300). Guessing one user's password from many addresses is slowed
   here. This delay is skipped for addresses the user has signed in from successfully before (kept 90
   days), so an attack from elsewhere never locks the user out of their own address.

Only failures count, so scripts and load tests that sign in correctly are never throttled. Usernames
and addresses are hashed in the keys (a typed username may be a mistyped password).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from panel import extensions

_PAIR = "panel:auth:fail:pair:{subject}:{window}"
_ADDRESS = "panel:auth:fail:addr:{subject}:{window}"
_USER = "panel:auth:fail:user:{subject}:{window}"
_USER_LAST = "panel:auth:fail:user-last:{subject}"
_KNOWN = "panel:auth:known-addresses:{subject}"
KNOWN_ADDRESS_DAYS = 90


@dataclass(frozen=True)
class Throttle:
    """The client is blocked for ``retry_after`` more seconds."""

    retry_after: int


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _user(username: str) -> str:
    return _hash("user", username.strip().lower())


def _window(now: float) -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    seconds = extensions.settings().login_rate_window_seconds
    window = int(now // seconds)
    return window, max(1, int((window + 1) * seconds - now))


def _keys(username: str, address: str, window: int) -> tuple[str, str, str]:
    user = _user(username)
    return (
        _PAIR.format(subject=_hash(user, address), window=window),
        _ADDRESS.format(subject=_hash("addr", address), window=window),
        _USER.format(subject=user, window=window),
    )


def user_delay(failures: int) -> int:
    """Seconds to wait after the previous failure, once a user has had ``failures`` in this window."""
    settings = extensions.settings()
    over = failures - settings.login_user_free_failures
    if over < 0:
        return 0
    return int(min(2 ** min(over, 30), settings.login_user_max_delay_seconds))


def check(username: str, address: str) -> Throttle | None:
    """A Throttle when any of the three limits applies to this attempt, else None."""
    settings = extensions.settings()
    now = time.time()
    window, window_left = _window(now)
    pair_key, address_key, user_key = _keys(username, address, window)
    user = _user(username)
    redis = extensions.redis_client()
    with redis.pipeline(transaction=False) as pipe:
        pipe.get(pair_key)
        pipe.get(address_key)
        pipe.get(user_key)
        pipe.get(_USER_LAST.format(subject=user))
        pipe.sismember(_KNOWN.format(subject=user), _hash("addr", address))
        pair, per_address, per_user, last_failure, known = pipe.execute()
    if int(pair or 0) >= settings.login_rate_limit or int(per_address or 0) >= settings.login_address_limit:
        return Throttle(retry_after=window_left)
    if known:
        return None
    delay = user_delay(int(per_user or 0))
    if delay and last_failure is not None:
        wait = float(last_failure) + delay - now
        if wait > 0:
            return Throttle(retry_after=max(1, int(wait + 0.999)))
    return None


def record_failure(username: str, address: str) -> None:
    settings = extensions.settings()
    now = time.time()
    window, window_left = _window(now)
    user = _user(username)
    with extensions.redis_client().pipeline() as pipe:
        for key in _keys(username, address, window):
            pipe.incr(key)
            pipe.expire(key, window_left + 1)
        pipe.set(
            _USER_LAST.format(subject=user),
            str(now),
            ex=settings.login_rate_window_seconds + settings.login_user_max_delay_seconds,
        )
        pipe.execute()


def record_success(username: str, address: str) -> None:
    """Remember ``address`` as one this user signs in from (exempt from the per-user delay)."""
    key = _KNOWN.format(subject=_user(username))
    with extensions.redis_client().pipeline() as pipe:
        pipe.sadd(key, _hash("addr", address))
        pipe.expire(key, KNOWN_ADDRESS_DAYS * 24 * 3600)
        pipe.execute()
