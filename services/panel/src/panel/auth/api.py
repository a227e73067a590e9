"""The token endpoints of the HTTP contract: POST /api/v2/auth/token and POST /api/v2/auth/refresh."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from panel import extensions
from panel.auth import login, tokens
from panel.auth.identity import CREDENTIALS_CHANGED
from panel.errors import ApiError, problem
from panel.models import User

log = logging.getLogger(__name__)

blueprint = Blueprint("auth_api", __name__, url_prefix="/api/v2/auth")


def _json_object(example: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "Bad Request",
            f"send a JSON object like {example} with 'Content-Type: application/json'",
        )
    return body


def _string_field(body: dict[str, Any], name: str, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "Bad Request", f"'{name}' is required and must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(400, "Bad Request", f"'{name}' is longer than {max_length} characters")
    return value


def throttled(exc: login.LoginThrottled) -> Response:
    response = problem(429, "Too Many Requests", str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def invalid_credentials(detail: str) -> Response:
    response = problem(401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="panel"'
    return response


@blueprint.errorhandler(redis.RedisError)
def redis_unavailable(_exc: redis.RedisError) -> Response:
    # Throttling and refresh rotation need Redis; without it, refuse rather than sign in unthrottled.
    log.warning("sign-in refused: Redis is unavailable")
    response = problem(503, "Service Unavailable", "sign-in is briefly unavailable; try again shortly")
    response.headers["Retry-After"] = "5"
    return response


@blueprint.post("/token")
def token() -> Response:
    body = _json_object('{"username": "...", "password": "..."}')
    username = _string_field(body, "username", login.MAX_USERNAME_LENGTH)
    if login.has_control_characters(username):
        raise ApiError(400, "Bad Request", "'username' must not contain control characters")
    password = _string_field(body, "password", login.MAX_PASSWORD_LENGTH)
    try:
        user = login.password_login(username, password, method="token")
    except login.LoginThrottled as exc:
        return throttled(exc)
    except login.LoginFailed as exc:
        return invalid_credentials(str(exc))
    return _no_store(jsonify(tokens.issue_token_pair(user)))


@blueprint.post("/refresh")
def refresh() -> Response:
    body = _json_object('{"refresh_token": "..."}')
    refresh_token = _string_field(body, "refresh_token", 4096)
    try:
        user_id, family, generation = tokens.redeem_refresh_token(refresh_token)
    except tokens.TokenError as exc:
        return invalid_credentials(str(exc))
    user = extensions.db().get(User, user_id)
    if user is None or not user.is_active:
        return invalid_credentials("the account behind this token no longer exists or is disabled")
    if generation != (user.credential_generation or 0):
        return invalid_credentials(CREDENTIALS_CHANGED)
    return _no_store(jsonify(tokens.issue_token_pair(user, family=family)))


def _no_store(response: Response) -> Response:
    # Tokens are credentials: no cache (browser, proxy or our own) may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
