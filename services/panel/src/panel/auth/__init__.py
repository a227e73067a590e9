"""Authentication and authorisation: JWT for the API, sessions for the dashboard, OIDC login.

Public interface used by the rest of the panel:
- ``init_app(app)``: registers the auth blueprints (``/api/v2/auth/*``, ``/login``, ``/logout``,
  ``/auth/oidc/*``), the per-request user loader (sets ``flask.g.current_user`` to an active
  ``panel.user_cache.AuthenticatedUser`` or ``None``, from ``Authorization: Bearer <access token>``
  or else the session cookie), the CSRF check and the template globals ``csrf_token()`` and
  ``current_user``.
- ``require_role(*roles)``: view decorator; unauthenticated -> 401 problem+json on /api/*, a redirect
  to /login elsewhere; wrong role -> 403 (problem+json on /api/*). No roles = any signed-in user.
- ``current_user()``: the caller (id, username, role, is_active; cached, not an ORM object) or ``None``.
- ``panel.auth.passwords.hash_password`` / ``verify_password``.
- ``panel.auth.tokens.issue_token_pair(user)``: the token endpoint's body, e.g. for tests and the CLI.

CSRF: every POST/PUT/PATCH/DELETE outside /api/* that comes with the session cookie must carry the
session's token: put ``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">`` in every
form (or send the ``X-CSRF-Token`` header). Otherwise the answer is 400. Only requests authenticated by
a valid Bearer token are exempt (no ambient credential); an Authorization header alone exempts nothing,
so ``POST /login`` always needs the token. On /api/*, a session cookie only authenticates safe
methods, or unsafe ones with a valid ``X-CSRF-Token`` header; mark a view with ``csrf_exempt`` only
when it authenticates its callers some other way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, g, render_template, request
from flask.typing import ResponseReturnValue

from panel.auth import api, csrf, oidc, sessions, views
from panel.auth.identity import current_user, load_current_user, require_role

__all__ = ["csrf_exempt", "current_user", "init_app", "require_role"]

F = TypeVar("F", bound=Callable[..., Any])


def csrf_exempt(view: F) -> F:
    """Mark a non-API view that must accept unsafe requests without the CSRF token."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    if app.permanent_session_lifetime == timedelta(days=31):  # Flask's default: too long for a panel
        app.permanent_session_lifetime = sessions.SESSION_LIFETIME
    app.before_request(load_current_user)
    app.before_request(_check_csrf)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(views.blueprint)
    oidc.init_app(app)
    app.jinja_env.globals["csrf_token"] = csrf.csrf_token
    app.context_processor(lambda: {"current_user": current_user()})


def _check_csrf() -> ResponseReturnValue | None:
    if request.method not in csrf.UNSAFE_METHODS or request.path.startswith("/api/"):
        return None
    if g.get("authenticated_by") == "bearer":
        return None  # a valid Bearer token, no ambient credential; any other header proves nothing
    view = _view_function(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, "csrf_exempt", False):
        return None
    if csrf.csrf_valid():
        return None
    page = render_template(
        "auth/error.html",
        title="Form expired",
        message="This form is out of date or did not come from Panel. "
        "Go back, reload the page and try again.",
    )
    return page, 400


def _view_function(endpoint: str) -> Callable[..., Any] | None:
    from flask import current_app

    view: Callable[..., Any] | None = current_app.view_functions.get(endpoint)
    return view
