"""Password hashing with Argon2id; cost parameters from the settings (ARGON2_* variables).

Argon2 encodes its parameters in every hash, so hashes made under older parameters keep verifying;
``needs_rehash`` tells the sign-in code to re-hash them with the current ones.
"""

from __future__ import annotations

import contextlib
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import has_app_context

from panel import extensions
from panel.settings import Settings


@functools.lru_cache(maxsize=8)
def _hasher_for(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)


@functools.lru_cache(maxsize=8)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the username is unknown, so that a wrong username costs as much time as
    # a wrong password and response times do not reveal which accounts exist.
    return hasher.hash("panel-dummy-password-for-timing")


def _hasher() -> PasswordHasher:
    """The app's configured hasher; the settings' defaults outside an app (scripts, tests)."""
    if has_app_context():
        settings = extensions.settings()
        return _hasher_for(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)
    fields = Settings.model_fields
    return _hasher_for(
        fields["argon2_memory_kib"].default,
        fields["argon2_time_cost"].default,
        fields["argon2_parallelism"].default,
    )


def hash_password(password: str) -> str:
    """Return an encoded Argon2id hash (salt and parameters included) for storing in User.password_hash."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for a mismatch, a malformed or missing hash."""
    if not password_hash:
        verify_dummy(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of one verification without any account (see _dummy_hash)."""
    hasher = _hasher()
    with contextlib.suppress(VerificationError):
        hasher.verify(_dummy_hash(hasher), password)


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash uses other parameters than the current ones."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return False
