"""HTTP checks against a local server, and the deadline against a TCP black hole."""

from __future__ import annotations

from collections.abc import Callable

from health_servers import BlackHole
from panel_health.checks import build_checks
from panel_health.results import Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings


def _results(settings: HealthSettings, *selection: str, deadline: float = 20.0) -> dict[str, object]:
    return {r.key: r for r in run_checks(build_checks(settings, selection), deadline)}


def test_panel_endpoints_pass(make_settings: Callable[..., HealthSettings], panel_http: str) -> None:
    relaxed = {"latency_warning_seconds": 30, "latency_critical_seconds": 60}
    paths = {"health": "/readyz", "main": "/", "api": "/api/v2/openapi.json"}
    targets = [{"name": name, "path": path, **relaxed} for name, path in paths.items()]
    settings = make_settings(panel_url=panel_http, http={"targets": targets})
    results = run_checks(build_checks(settings, ("http",)), 20)
    assert [r.key for r in results] == ["http:health", "http:main", "http:api"]
    for result in results:
        assert result.up and result.status is Status.PASS, result
        names = {s.name for s in result.samples}
        assert {"panel_health_http_up", "panel_health_http_duration_seconds"} <= names


def test_bad_status_body_mismatch_and_latency(
    make_settings: Callable[..., HealthSettings], panel_http: str
) -> None:
    settings = make_settings(
        panel_url=panel_http,
        http={
            "include_panel_defaults": False,
            "targets": [
                {"name": "broken", "path": "/broken"},
                {"name": "body", "path": "/readyz", "body_contains": "degraded"},
                {
                    "name": "slow",
                    "path": "/slow",
                    "latency_warning_seconds": 0.1,
                    "latency_critical_seconds": 60,
                },
                {"name": "no-follow", "path": "/redirect", "follow_redirects": False, "expect_status": [302]},
                {"name": "follow", "path": "/redirect", "body_contains": "ok"},
            ],
        },
    )
    results = {r.target: r for r in run_checks(build_checks(settings), 20)}
    assert results["broken"].reason == "bad_status" and results["broken"].status is Status.FAIL
    assert results["body"].reason == "body_mismatch" and not results["body"].up
    assert results["slow"].up and results["slow"].status is Status.WARN
    assert results["no-follow"].status is Status.PASS
    assert results["follow"].status is Status.PASS


def test_refused_connection_is_reported_with_reason(make_settings: Callable[..., HealthSettings]) -> None:
    from support.servers import free_port

    settings = make_settings(panel_url=f"http://127.0.0.1:{free_port()}")
    result = run_checks(build_checks(settings, ("http:health",)), 20)[0]
    assert not result.up
    assert result.reason == "connection_refused"
    assert result.status is Status.FAIL


def test_own_timeout_reports_timeout(
    make_settings: Callable[..., HealthSettings], black_hole: BlackHole
) -> None:
    settings = make_settings(
        http={
            "include_panel_defaults": False,
            "targets": [
                {"name": "hole", "url": f"http://127.0.0.1:{black_hole.port}/", "timeout_seconds": 0.5}
            ],
        }
    )
    result = run_checks(build_checks(settings), 20)[0]
    assert (result.up, result.reason) == (False, "timeout")


def test_deadline_cuts_off_every_kind_of_hung_dependency(
    make_settings: Callable[..., HealthSettings], black_hole: BlackHole, panel_http: str
) -> None:
    """A black-holed HTTP target, PostgreSQL and Redis with long own timeouts: the one deadline wins."""
    hole = f"127.0.0.1:{black_hole.port}"
    settings = make_settings(
        panel_url=panel_http,
        default_timeout_seconds=60,
        database_url=f"postgresql://u:p@{hole}/db",
        redis_url=f"redis://{hole}/0",
        http={"targets": [{"name": "hole", "url": f"http://{hole}/"}]},
        tls={"targets": [{"host": "127.0.0.1", "port": black_hole.port, "name": "hole"}]},
    )
    results = {r.key: r for r in run_checks(build_checks(settings), deadline_seconds=2.0)}
    for key in ("http:hole", "postgres", "redis", "rq", "tls:hole"):
        assert not results[key].up, key
        assert results[key].reason == "deadline_exceeded", (key, results[key].reason)
        assert results[key].samples[0].value == 0.0
    # The healthy targets still answered within the same deadline.
    assert results["http:health"].up
