"""Per-request hooks: request id in and out, one JSON access-log line, and the HTTP metrics."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from panel import requestctx
from panel.metrics import HTTP_LATENCY, HTTP_REQUESTS

access_log = logging.getLogger("panel.access")


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        ids = requestctx.from_headers(
            request.headers.get(requestctx.REQUEST_ID_HEADER), request.headers.get("traceparent")
        )
        g.request_id = ids.request_id
        g.trace_ids = ids
        g.request_started = time.perf_counter()
        g.trace_token = requestctx.current.set(ids)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = getattr(g, "request_id", None)
        if request_id:
            response.headers[requestctx.REQUEST_ID_HEADER] = request_id
        started = getattr(g, "request_started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        # The route rule, not the raw path: ids in paths would make the label set unbounded.
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        status = str(response.status_code)
        HTTP_REQUESTS.labels(endpoint, request.method, status).inc()
        HTTP_LATENCY.labels(endpoint, request.method, status).observe(elapsed)
        if endpoint not in ("/metrics", "/livez", "/readyz") or response.status_code >= 400:
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "endpoint": endpoint,
                },
            )
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("trace_token", None)
        if token is not None:
            requestctx.current.reset(token)
