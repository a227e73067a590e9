"""Browser sign-in: GET|POST /login and POST /logout (session cookie, CSRF-protected forms)."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis
from flask import Blueprint, Response, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from panel import extensions
from panel.auth import login
from panel.auth.api import redis_unavailable, throttled
from panel.auth.identity import current_user

blueprint = Blueprint("auth", __name__, template_folder="templates")
blueprint.register_error_handler(redis.RedisError, redis_unavailable)


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything pointing elsewhere (open redirect) becomes '/'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if login.has_control_characters(target):  # header injection, or a URL the browser would rewrite
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def render_login(error: str | None = None, status: int = 200, username: str = "") -> ResponseReturnValue:
    return (
        render_template(
            "auth/login.html",
            error=error,
            username=username,
            next=safe_next(request.values.get("next")),
            oidc_enabled=extensions.settings().oidc_enabled,
        ),
        status,
    )


def _prefers_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/problem+json", "application/json", "text/html"])
    return best == "text/html"


@blueprint.get("/login", endpoint="login")
def login_page() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    return render_login()


@blueprint.post("/login")
def login_submit() -> ResponseReturnValue:
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    if not username or not password:
        return render_login("Enter both your username and your password.", 400, username)
    too_long = len(username) > login.MAX_USERNAME_LENGTH or len(password) > login.MAX_PASSWORD_LENGTH
    if too_long or login.has_control_characters(username):
        return render_login(login.INVALID_CREDENTIALS.capitalize() + ".", 401)
    try:
        user = login.password_login(username, password, method="password")
    except login.LoginThrottled as exc:
        if not _prefers_html():
            return throttled(exc)
        page = render_login(str(exc).capitalize() + ".", 429, username)
        response: Response = make_response(page)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except login.LoginFailed as exc:
        return render_login(str(exc).capitalize() + ".", 401, username)
    login.start_session(user)
    return redirect(safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    login.end_session()
    return redirect("/login")
