"""JSON and conditional (ETag) responses shared by the API modules."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from panel.cache import Cached


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status=status, mimetype="application/json", headers=headers)


def conditional(body: bytes, etag: str, cache_state: str | None = None) -> Response:
    """200 with an ETag, or 304 when the client's If-None-Match already names this representation."""
    unquoted = etag.strip('"')
    if request.if_none_match.contains_weak(unquoted):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(unquoted)
    response.headers["Cache-Control"] = "private, no-cache"
    if cache_state:
        response.headers["X-Cache"] = cache_state
    return response


def cached_response(cached: Cached) -> Response:
    return conditional(cached.body, cached.etag, "hit" if cached.hit else "miss")
