"""Signing in: password checks with throttling and audit, and starting a browser session."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from flask import request

from panel import audit, credentials, extensions
from panel.auth import csrf, passwords, ratelimit, sessions
from panel.models import User, utcnow

# One message for an unknown user, a wrong password and a disabled account: never reveal which.
INVALID_CREDENTIALS = "invalid username or password"
MAX_USERNAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 1024  # Argon2 accepts more, but nobody types this much; bounds hashing cost


def has_control_characters(value: str) -> bool:
    """True for NUL, newlines and other control characters (PostgreSQL rejects NUL in text)."""
    return any(unicodedata.category(char) == "Cc" for char in value)


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class LoginFailed(Exception):
    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


def typed_username_hash(username: str) -> str:
    """A keyed hash of a typed username: repeated attempts correlate, the text cannot be read back."""
    key = extensions.settings().secret_key.encode()
    return hmac.new(key, username.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def client_address() -> str:
    return request.remote_addr or "unknown"


def password_login(username: str, password: str, method: str) -> User:
    """Check ``username``/``password``; return the active user or raise LoginThrottled / LoginFailed.

    Every outcome is audited and committed (``auth.login`` or ``auth.login_failed``).
    """
    address = client_address()
    throttle = ratelimit.check(username, address)
    if throttle is not None:
        raise LoginThrottled(throttle.retry_after)
    session_ = extensions.db()
    user = session_.query(User).filter_by(username=username).one_or_none()
    if user is None:
        passwords.verify_dummy(password)
        reason = "unknown user"
    elif not passwords.verify_password(user.password_hash, password):
        reason = "wrong password"
    elif not user.is_active:
        reason = "account disabled"
    else:
        if user.password_hash and passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
            credentials.mark_rehash(session_, user)  # same password: not a credential change
        record_login(user, method)
        ratelimit.record_success(username, address)
        return user
    ratelimit.record_failure(username, address)
    changes = {"method": method, "reason": reason, "address": address}
    if user is None:
        # What was typed may be a password typed into the wrong field: never store it in clear.
        changes["username_hash"] = typed_username_hash(username)
    audit.record(session_, "auth.login_failed", "user", user.id if user else None, changes=changes)
    session_.commit()
    raise LoginFailed()


def record_login(user: User, method: str) -> None:
    """Stamp ``last_login_at`` and audit a successful sign-in (committed)."""
    session_ = extensions.db()
    user.last_login_at = utcnow()
    audit.record(
        session_,
        "auth.login",
        "user",
        user.id,
        changes={"method": method, "address": client_address()},
        actor_id=user.id,
    )
    session_.commit()


def start_session(user: User) -> None:
    """Log ``user`` into the browser session, dropping everything from before (session fixation)."""
    sessions.start(user.id, user.credential_generation or 0)
    csrf.rotate_csrf_token()


def end_session() -> None:
    sessions.end()
