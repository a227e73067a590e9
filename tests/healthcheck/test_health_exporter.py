"""The exporter over HTTP: /healthz, /metrics in the Prometheus format, the scrape deadline header."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from health_servers import BlackHole, TlsServer, make_certificate
from panel_health.exporter import HealthExporter
from panel_health.settings import HealthSettings
from prometheus_client.parser import text_string_to_metric_families

Runner = Callable[[HealthSettings], tuple[str, HealthExporter]]


def _scrape(url: str, timeout_header: str | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": timeout_header} if timeout_header else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append((sample.labels, sample.value))
    return series


@pytest.mark.redis
def test_metrics_for_healthy_dependencies_pass_promtool(
    make_settings: Callable[..., HealthSettings],
    run_exporter: Runner,
    panel_http: str,
    redis_url: str,
    postgres_database: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    (tmp_path / "app.log").write_text('{"levelname": "ERROR", "message": "x"}\n')
    tls_server = TlsServer(*make_certificate(tmp_path, "leaf", 60, ["panel.test"]))
    request.addfinalizer(tls_server.close)
    settings = make_settings(
        panel_url=panel_http,
        redis_url=redis_url,
        database_url=postgres_database,
        resources={"disk_paths": ["/tmp"], "cpu_sample_seconds": 0.05},
        logs={"sources": [{"name": "app", "path": str(tmp_path / "app.log")}]},
        tls={"targets": [{"host": "127.0.0.1", "port": tls_server.port, "server_name": "panel.test"}]},
    )
    url, _ = run_exporter(settings)
    text = httpx.get(f"{url}/metrics", timeout=60).text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "" and lint.stderr.strip() == ""

    series = _scrape(url)
    for check in ("postgres", "redis", "rq", "resources"):
        assert series[f"panel_health_{check}_up"] == [({}, 1.0)], check
    assert series["panel_health_logs_up"] == [({"source": "app"}, 1.0)]
    assert series["panel_health_log_error_ratio"] == [({"source": "app"}, 1.0)]
    assert series["panel_health_tls_cert_name_match"] == [({"target": f"panel.test:{tls_server.port}"}, 1.0)]
    assert {labels["target"] for labels, _ in series["panel_health_http_up"]} == {"health", "main", "api"}
    assert all(value == 1.0 for _, value in series["panel_health_http_up"])
    assert "panel_health_check_down_reason" not in series
    # Without the header: the default 10 s minus the 0.5 s margin.
    assert series["panel_health_scrape_deadline_seconds"] == [({}, 9.5)]
    assert "process_cpu_seconds_total" in series
    assert "panel_health_cpu_usage_seconds_total" in series
    # Bounded cardinality: every label name comes from a small fixed set.
    allowed = {"check", "target", "queue", "state", "path", "reason", "source"}
    assert all(set(labels) <= allowed for samples in series.values() for labels, _ in samples)


def test_deadline_from_the_prometheus_header(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, black_hole: BlackHole, panel_http: str
) -> None:
    settings = make_settings(
        panel_url=panel_http,
        default_timeout_seconds=60,
        redis_url=f"redis://127.0.0.1:{black_hole.port}/0",
        rq={"enabled": False},
        exporter={"scrape_timeout_margin_seconds": 0.25},
    )
    url, _ = run_exporter(settings)
    series = _scrape(url, timeout_header="3")
    assert series["panel_health_scrape_deadline_seconds"] == [({}, 2.75)]
    assert series["panel_health_redis_up"] == [({}, 0.0)]
    assert series["panel_health_check_down_reason"] == [
        ({"check": "redis", "target": "", "reason": "deadline_exceeded"}, 1.0)
    ]
    assert series["panel_health_check_status"][-1] == ({"check": "redis", "target": ""}, 2.0)
    assert all(value == 1.0 for _, value in series["panel_health_http_up"])


def test_healthz_needs_no_dependencies_and_other_paths(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, black_hole: BlackHole
) -> None:
    settings = make_settings(redis_url=f"redis://127.0.0.1:{black_hole.port}/0", default_timeout_seconds=60)
    url, _ = run_exporter(settings)
    response = httpx.get(f"{url}/healthz", timeout=5)
    assert (response.status_code, response.text) == (200, "ok\n")
    assert httpx.get(f"{url}/nope", timeout=5).status_code == 404
    assert httpx.post(f"{url}/metrics", timeout=5).status_code == 405


def test_openmetrics_when_asked(make_settings: Callable[..., HealthSettings], run_exporter: Runner) -> None:
    url, _ = run_exporter(make_settings(http={"enabled": False}))
    response = httpx.get(
        f"{url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=30
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_serve_command_logs_json_and_stops_cleanly_on_sigterm(write_config: Callable[..., object]) -> None:
    import json
    import os
    import signal
    import sys

    from support.servers import free_port, wait_for_port

    port = free_port()
    config = write_config({"http": {"enabled": False}, "resources": {"enabled": False}})
    process = subprocess.Popen(
        [sys.executable, "-m", "panel_health", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PANEL_HEALTH_CONFIG": str(config)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert messages[0] == "listening" and "scrape" in messages and messages[-1] == "stopping"
    assert all(r["level"] in ("INFO", "WARNING") for r in records)


def test_port_in_use_is_a_clear_error(write_config: Callable[..., object]) -> None:
    import os
    import socket
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "panel_health", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "PANEL_HEALTH_CONFIG": str(write_config({}))},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert "cannot listen (Address already in use)" in result.stderr
    assert "Traceback" not in result.stderr


def test_perf_probe_is_exported_when_enabled(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, panel_http: str
) -> None:
    """perf.export runs the probe in the background; scrapes report its last result (issue 15 item 6)."""
    import time

    settings = make_settings(
        panel_url=panel_http,
        http={"targets": [{"name": "flaky", "path": "/flaky"}]},
        perf={
            "export": True,
            "interval_seconds": 3600,
            "requests": 40,
            "concurrency": 4,
            "targets": ["flaky"],
        },
    )
    url, app = run_exporter(settings)
    deadline = time.monotonic() + 60
    series = _scrape(url)
    while "panel_health_perf_up" not in series:
        assert time.monotonic() < deadline, "the perf probe never reported"
        time.sleep(0.2)
        series = _scrape(url)
    assert app.perf is not None
    app.perf.stop()
    assert series["panel_health_perf_up"] == [({}, 1.0)]
    # /flaky fails every other request (scrapes' own checks of it interleave, so about half).
    [(_, error_ratio)] = series["panel_health_perf_error_ratio"]
    assert 0.3 < error_ratio < 0.7
    assert series["panel_health_perf_requests"] == [({}, 40.0)]
    quantiles = {labels["quantile"]: value for labels, value in series["panel_health_perf_latency_seconds"]}
    assert set(quantiles) == {"0.5", "0.95", "0.99"} and 0 < quantiles["0.5"] <= quantiles["0.99"]
    assert series["panel_health_perf_throughput_requests_per_second"][0][1] > 0
    [(_, finished_at)] = series["panel_health_perf_last_run_timestamp_seconds"]
    assert abs(finished_at - time.time()) < 120
    # The error ratio is over perf.error_ratio_critical (0.05): the verdict is fail.
    assert ({"check": "perf", "target": ""}, 2.0) in series["panel_health_check_status"]


def test_perf_export_without_it_exports_nothing(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, panel_http: str
) -> None:
    url, app = run_exporter(make_settings(panel_url=panel_http))
    assert app.perf is None
    assert not any(name.startswith("panel_health_perf") for name in _scrape(url))
