"""Operations: /livez, /readyz, /metrics, request ids and traceparent, JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from panel import logs, metrics
from panel.app import create_app
from panel_helpers import body, make_settings

Headers = Callable[[str], dict[str, str]]


def test_livez_and_readyz(client: FlaskClient) -> None:
    assert body(client.get("/livez")) == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert body(ready)["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_each_missing_dependency(database_url: str, redis_server: object) -> None:
    # Not migrated, and Redis on a port where nothing listens: both named, 503, quickly.
    settings = make_settings(database_url, "redis://127.0.0.1:9/0", readiness_timeout_seconds=1.0)
    app = create_app(settings)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = body(response)["checks"]
    assert "panel migrate" in checks["database"]
    assert checks["redis"].startswith("unavailable")
    assert app.test_client().get("/livez").status_code == 200  # liveness never depends on them
    app.extensions["panel"].engine.dispose()


def test_request_id_is_accepted_generated_and_derived_from_traceparent(client: FlaskClient) -> None:
    assert client.get("/livez", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/livez", headers={"X-Request-ID": "bad id with spaces\x01"}).headers[
        "X-Request-ID"
    ]
    assert generated and " " not in generated and len(generated) == 32
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traced = client.get("/livez", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert traced.headers["X-Request-ID"] == trace_id
    invalid = client.get("/livez", headers={"traceparent": "00-zzzz-00f067aa0ba902b7-01"})
    assert invalid.headers["X-Request-ID"] != trace_id


def test_every_log_line_of_a_request_is_json_with_its_request_id(
    client: FlaskClient, auth_headers: Headers
) -> None:
    headers = auth_headers("viewer")
    stream = io.StringIO()
    handler = logs.json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        client.get("/api/v2/servers?status=bogus", headers={**headers, "X-Request-ID": "trace-me-42"})
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "the request logged nothing"
    assert all(line["request_id"] == "trace-me-42" for line in lines)
    access = next(line for line in lines if line["logger"] == "panel.access")
    assert access["status"] == 400 and access["path"] == "/api/v2/servers" and access["level"] == "INFO"


def test_metrics_count_requests_by_endpoint_and_status(app: Flask, client: FlaskClient) -> None:
    client.get("/livez")
    client.get("/api/v2/servers")  # 401
    text = metrics.exposition()[0].decode()
    assert 'panel_http_requests_total{endpoint="/livez",method="GET",status="200"}' in text
    assert 'panel_http_requests_total{endpoint="/api/v2/servers",method="GET",status="401"}' in text
    assert "panel_http_request_duration_seconds_bucket" in text


def test_errors_are_problem_json(client: FlaskClient) -> None:
    missing = client.get("/api/v2/nothing-here")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert body(missing)["instance"] == "/api/v2/nothing-here"
    wrong_method = client.delete("/api/v2/summary")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]


def test_the_app_port_serves_no_metrics(client: FlaskClient) -> None:
    """Contract C2: metrics live on METRICS_PORT, which no ingress routes; the app port says 404."""
    response = client.get("/metrics")
    assert response.status_code == 404
    assert "panel_http_requests_total" not in response.get_data(as_text=True)
