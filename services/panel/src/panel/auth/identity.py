"""Who is calling: the per-request user loader, ``current_user()`` and ``require_role()``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Forbidden

from panel import cache, extensions
from panel.auth import csrf, sessions, tokens
from panel.auth.sessions import SESSION_USER_KEY
from panel.errors import problem
from panel.models import Role, User
from panel.redis_lookup import Found, Lookup
from panel.user_cache import AuthenticatedUser

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CREDENTIALS_CHANGED = "the password or role of this account changed since this sign-in; sign in again"

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def current_user() -> AuthenticatedUser | None:
    """The authenticated, active user of this request, or None."""
    user: AuthenticatedUser | None = g.get("current_user")
    return user


def _load_active_user(user_id: int) -> AuthenticatedUser | None:
    """From the auth-state cache (no database on a hit); see panel.user_cache.

    The response-cache entry this request will want (if its view registered one with
    ``panel.cache.prefetch``) is read in the same Redis round trip.
    """
    found: dict[Lookup, Found] = {}
    user = extensions.resources().users.get(
        user_id, lambda id_: extensions.db().get(User, id_), cache.prefetch_lookups(), found
    )
    cache.remember_prefetched(found)
    if user is None or not user.is_active:
        return None
    return user


def load_current_user() -> None:
    """before_request hook: set ``g.current_user`` from a Bearer access token or the session cookie.

    A request with an Authorization header is judged by that header alone. The session cookie counts
    for safe methods anywhere, and for unsafe methods on /api/* only with a valid X-CSRF-Token header
    (pages outside /api/* are CSRF-checked by the hook in panel.auth.__init__).
    """
    g.current_user = None
    g.auth_error = None
    g.authenticated_by = None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            g.auth_error = "use 'Authorization: Bearer <access_token>' (get one from POST /api/v2/auth/token)"
            return
        try:
            claims = tokens.decode_access_token(token.strip())
        except tokens.TokenError as exc:
            g.auth_error = str(exc)
            return
        user = _load_active_user(int(claims["sub"]))
        if user is None:
            g.auth_error = "the account behind this token no longer exists or is disabled"
        elif user.credential_generation != tokens.generation(claims):
            g.auth_error = CREDENTIALS_CHANGED
        else:
            g.current_user = user
            g.authenticated_by = "bearer"
        return
    if SESSION_USER_KEY not in session:
        return
    user_id = sessions.user_id()
    if user_id is None:
        return
    if request.path.startswith("/api/") and request.method not in SAFE_METHODS and not csrf.csrf_valid():
        g.auth_error = "a session-authenticated write needs the X-CSRF-Token header (or use a Bearer token)"
        return
    user = _load_active_user(user_id)
    if user is None or user.credential_generation != sessions.generation():
        sessions.end()
        return
    g.current_user = user


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def unauthorized() -> ResponseReturnValue:
    """401 problem+json for the API; a redirect to the login page for HTML pages."""
    if _is_api_request():
        detail = g.get("auth_error") or (
            "send 'Authorization: Bearer <access_token>'; get a token from POST /api/v2/auth/token"
        )
        response = problem(401, "Unauthorized", detail)
        response.headers["WWW-Authenticate"] = 'Bearer realm="panel"'
        return response
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def forbidden(user: AuthenticatedUser, allowed: frozenset[str]) -> Response:
    roles = " or ".join(sorted(allowed))
    detail = f"this needs the role {roles}; your role is {user.role}"
    if _is_api_request():
        return problem(403, "Forbidden", detail)
    raise Forbidden(detail)


def require_role(*roles: Role | str) -> Callable[[F], F]:
    """View decorator: the caller must be signed in and, when roles are given, hold one of them.

    Unauthenticated: 401 problem+json on /api/*, a redirect to /login elsewhere.
    Wrong role: 403 (problem+json on /api/*).
    """
    allowed = frozenset(Role(role).value for role in roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            user = current_user()
            if user is None:
                return unauthorized()
            if allowed and user.role not in allowed:
                return forbidden(user, allowed)
            return view(*args, **kwargs)

        wrapper.required_roles = allowed  # type: ignore[attr-defined]  # read by the OpenAPI document
        return cast(F, wrapper)

    return decorator
