"""RFC 9457 problem+json errors for every API failure, including Flask's own HTTP errors."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
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


def init_app(app: Flask) -> None:
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
