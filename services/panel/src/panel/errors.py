"""RFC 9457 problem+json errors for every API failure, including Flask's own HTTP errors."""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/")


_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} - Panel</title></head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
</main>
</body>
</html>
"""


def error_page(status: int, title: str, message: str) -> Response:
    """A plain HTML error page (no script, no style: it must render under the strict CSP)."""
    body = _PAGE.format(title=escape(title), message=escape(message))
    return Response(body, status=status, mimetype="text/html")


def service_unavailable(retry_after: int, detail: str) -> Response:
    """503 with Retry-After: problem+json on /api/*, an HTML page elsewhere."""
    if _wants_problem_json():
        response = problem(503, "Service Unavailable", detail)
    else:
        response = error_page(503, "Briefly unavailable", detail)
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask, redis_retry_after_seconds: float = 2.0) -> None:
    retry_after = max(1, math.ceil(redis_retry_after_seconds))

    @app.errorhandler(redis.RedisError)
    def _redis_unavailable(exc: redis.RedisError) -> Response:
        # An outage, not a bug: one warning line, no traceback; the client is told when to retry.
        log.warning("Redis unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
        return service_unavailable(
            retry_after, "this needs Redis, which is not answering; try again in a few seconds"
        )

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not _wants_problem_json():
            return exc
        response = problem(exc.code or 500, exc.name, exc.description)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[str, int]:
        # The traceback goes to the log (with the request id); the client gets the id, not the trace.
        log.exception("unhandled error")
        if _wants_problem_json():
            return problem(
                500, "Internal Server Error", "an unexpected error occurred; quote the X-Request-ID"
            )
        return "Internal Server Error: an unexpected error occurred; quote the X-Request-ID", 500
