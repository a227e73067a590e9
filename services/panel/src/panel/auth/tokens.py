"""JWT access and refresh tokens (HS256, PyJWT) with refresh rotation and reuse detection in Redis.

Every token carries ``typ`` ("access" or "refresh") so a refresh token is never accepted where an access
token is expected, and a ``jti``. A refresh token is single-use: redeeming it deletes its ``jti`` from Redis
and issues a new pair in the same *family*. Presenting an already redeemed refresh token means it was
copied, so the whole family is revoked and its holder must sign in again.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from panel import extensions
from panel.auth.token_cache import TokenCache
from panel.models import User

ISSUER = "panel"
ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
LEEWAY_SECONDS = 5  # tolerated clock skew between web processes

_USER_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_USER_ID = 2**31 - 1
_REFRESH_KEY = "panel:auth:refresh:{jti}"
_REVOKED_FAMILY_KEY = "panel:auth:refresh-family-revoked:{family}"


class TokenError(Exception):
    """The token is unusable; ``str(exc)`` is safe to show to the client."""


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, extensions.settings().jwt_secret, algorithm=ALGORITHM)


def _new_token(user: User, token_type: str, ttl_seconds: int, **extra: Any) -> tuple[str, str]:
    now = datetime.now(UTC)
    jti = uuid.uuid4().hex
    claims = {
        "iss": ISSUER,
        "sub": str(user.id),
        "typ": token_type,
        "jti": jti,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "gen": user.credential_generation or 0,  # see panel.credentials
        **extra,
    }
    return _encode(claims), jti


def issue_token_pair(user: User, family: str | None = None) -> dict[str, Any]:
    """Issue an access + refresh token for ``user``; the response body of the token endpoints."""
    settings = extensions.settings()
    family = family or secrets.token_urlsafe(16)
    access_token, _ = _new_token(user, ACCESS, settings.jwt_access_ttl_seconds)
    refresh_token, refresh_jti = _new_token(user, REFRESH, settings.jwt_refresh_ttl_seconds, fam=family)
    extensions.redis_client().set(
        _REFRESH_KEY.format(jti=refresh_jti), family, ex=settings.jwt_refresh_ttl_seconds
    )
    return {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": settings.jwt_access_ttl_seconds,
    }


def decode_token(token: str, expected_type: str) -> dict[str, Any]:
    """Verify signature, expiry, issuer and type; return the claims or raise TokenError."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            extensions.settings().jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "sub", "typ", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(f"the {expected_type} token has expired") from None
    except jwt.InvalidTokenError:
        raise TokenError(f"the {expected_type} token is malformed or its signature is invalid") from None
    if claims.get("typ") != expected_type:
        raise TokenError(f"expected a token of type {expected_type!r}, got {claims.get('typ')!r}")
    subject = claims["sub"]
    # ASCII digits only (str.isdigit() also accepts e.g. Arabic-Indic digits), within the id column.
    if not isinstance(subject, str) or not _USER_ID.fullmatch(subject) or int(subject) > MAX_USER_ID:
        raise TokenError(f"the {expected_type} token names no user")
    return claims


# One per process: verified access tokens (see panel.auth.token_cache for what it may and may not skip).
access_tokens = TokenCache()


def decode_access_token(token: str) -> dict[str, Any]:
    """``decode_token(token, ACCESS)``, answered from the in-process cache when this token verified before."""
    secret = extensions.settings().jwt_secret
    claims = access_tokens.get(secret, token)
    if claims is None:
        claims = decode_token(token, ACCESS)  # raises TokenError: failures are never cached
        access_tokens.put(secret, token, claims)
    return claims


def generation(claims: dict[str, Any]) -> int:
    """The credential generation a token was issued under (0 for tokens from before it existed)."""
    value = claims.get("gen", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def redeem_refresh_token(token: str) -> tuple[int, str, int]:
    """Consume a refresh token once; return (user id, family, credential generation) for the next pair.

    Raises TokenError when the token is invalid, expired, revoked or already redeemed (which revokes
    every token of its family).
    """
    claims = decode_token(token, REFRESH)
    family = claims.get("fam")
    if not isinstance(family, str) or not family:
        raise TokenError("the refresh token is malformed or its signature is invalid")
    redis = extensions.redis_client()
    if redis.exists(_REVOKED_FAMILY_KEY.format(family=family)):
        raise TokenError("the refresh token was revoked; sign in again")
    if not redis.delete(_REFRESH_KEY.format(jti=claims["jti"])):
        # Already redeemed (or never issued by us): whoever holds a later token of this family may
        # have copied it, so revoke them all.
        ttl = extensions.settings().jwt_refresh_ttl_seconds
        redis.set(_REVOKED_FAMILY_KEY.format(family=family), "1", ex=ttl)
        raise TokenError("the refresh token was already used; all tokens from this sign-in are revoked")
    return int(claims["sub"]), family, generation(claims)
