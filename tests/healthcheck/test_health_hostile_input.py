"""Secrets stay out of logs, and bad input gets one clear line and a documented exit code: never a
traceback, an HTTP 500 or an "internal error" (issue 15 items 2, 3 and 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from panel_health.exporter import HealthExporter
from panel_health.settings import ConfigError, HealthSettings, load_settings
from support.servers import free_port, wait_for_port

Config = Callable[[dict[str, Any]], Path]
Runner = Callable[[HealthSettings], tuple[str, HealthExporter]]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panel_health", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_serve_never_logs_credentials_or_query_tokens(
    write_config: Config, panel_http: str, level: str
) -> None:
    host_port = panel_http.removeprefix("http://")
    # The panel-like server answers 404 for a path with a query string; reaching it is what counts.
    secret_url = f"http://scraper:hunter2-pass@{host_port}/readyz?token=s3cret-token&x=1"
    config = write_config(
        {
            "panel_url": panel_http,
            "resources": {"enabled": False},
            "http": {
                "include_panel_defaults": False,
                "targets": [{"name": "secret", "url": secret_url, "expect_status": [404]}],
            },
        }
    )
    port = free_port()
    command = [sys.executable, "-m", "panel_health", "--log-level", level, "serve", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, "PANEL_HEALTH_CONFIG": str(config)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        assert 'panel_health_http_up{target="secret"} 1.0' in text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "scrape" in stderr
    for secret in ("hunter2-pass", "s3cret-token"):
        assert secret not in stderr, stderr


def test_redaction_keeps_hosts_and_paths_but_drops_userinfo_and_queries() -> None:
    from service_settings import scrub  # what panel-health's JSON log formatter applies to every line

    text = 'GET http://u:p@ss@10.0.0.1:8000/readyz?token=t "200" redis://:pw@r:6379/0 https://plain.example/x'
    assert scrub(text) == (
        'GET http://u:***@10.0.0.1:8000/readyz?*** "200" redis://:***@r:6379/0 https://plain.example/x'
    )


@pytest.mark.parametrize("mode", ["perf", "health"])
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999", "PANEL_URL: not a valid URL: its port is not a number from 1 to 65535"),
        ("http://[::1", "PANEL_URL: not a valid URL"),
        ("http://:8000", "PANEL_URL: not a valid URL: it names no host"),
    ],
)
def test_a_bad_panel_url_is_one_line_and_exit_2(mode: str, url: str, problem: str) -> None:
    result = _cli("check", mode, env={"PANEL_URL": url})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("REDIS_URL", "redis://127.0.0.1:abc/0", "REDIS_URL: not a valid URL: its port is not a number"),
        ("DATABASE_URL", "postgresql://u:hunter2@db:99999/x", "DATABASE_URL: not a valid URL: its port"),
        ("PANEL_PUBLIC_URL", "http://panel.example.org", "PANEL_PUBLIC_URL: must start with https://"),
    ],
)
def test_bad_dependency_urls_are_config_errors_without_the_secret(
    variable: str, value: str, problem: str
) -> None:
    result = _cli("check", env={variable: value})
    assert result.returncode == 2, result.stdout + result.stderr
    assert problem in result.stderr and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "internal error" not in result.stdout


def test_libpq_multi_host_urls_stay_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db1:5432,db2:5432/panel")
    assert load_settings().database_url is not None


def test_non_utf8_config_and_secret_files(tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("panel_url: http://caf\xe9:8000\n".encode("latin-1"))
    result = _cli("check", env={"PANEL_HEALTH_CONFIG": str(config)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"PANEL_HEALTH_CONFIG: {config} is not UTF-8 text (byte 21); save it as UTF-8" in result.stderr

    secret = tmp_path / "redis-url"
    secret.write_bytes(b"redis://:\xff\xfe@127.0.0.1:6379/0")
    result = _cli("check", env={"REDIS_URL_FILE": str(secret)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"REDIS_URL_FILE: {secret} is not UTF-8 text" in result.stderr


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"rq": {"depth_warning": 2000, "depth_critical": 1000}},
            "rq.depth_warning (2000) must be at most rq.depth_critical (1000)",
        ),
        (
            {"tls": {"warning_days": 5, "critical_days": 7}},
            "tls.warning_days (5) must be at least tls.critical_days (7)",
        ),
        (
            {"resources": {"cpu_warning_ratio": 0.99, "cpu_critical_ratio": 0.9}},
            "resources.cpu_warning_ratio (0.99) must be at most resources.cpu_critical_ratio (0.9)",
        ),
        (
            {"http": {"targets": [{"name": "a", "path": "/", "latency_warning_seconds": 9}]}},
            "http.targets.latency_warning_seconds (9) must be at most",
        ),
        (
            {"perf": {"p95_warning_seconds": 3}},
            "perf.p95_warning_seconds (3) must be at most perf.p95_critical_seconds (2)",
        ),
        ({"rq": {"queues": ["panel", "mail", "panel"]}}, "rq.queues: panel listed more than once"),
        ({"resources": {"measure": ["cpu", "cpu"]}}, "resources.measure: list each of disk, memory, cpu"),
        (
            {"default_timeout_seconds": float("inf")},
            "default_timeout_seconds: Input should be a finite number",
        ),
        (
            {"redis": {"latency_warning_seconds": float("nan")}},
            "redis.latency_warning_seconds: Input should be",
        ),
    ],
)
def test_contradictory_or_non_finite_settings_are_rejected(
    write_config: Config, data: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(data))
    assert any(problem in line for line in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("header", "deadline"),
    [("inf", 9.5), ("nan", 9.5), ("-1", 9.5), ("0", 9.5), ("abc", 9.5), ("1e10", 599.5), ("3", 2.5)],
)
def test_hostile_scrape_timeout_headers_still_get_a_scrape(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, header: str, deadline: float
) -> None:
    url, _ = run_exporter(make_settings(http={"enabled": False}))
    response = httpx.get(
        f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": header}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert f"panel_health_scrape_deadline_seconds {deadline}" in response.text


def test_piped_output_names_each_failing_measurement_in_words(write_config: Config, panel_http: str) -> None:
    target = {
        "name": "slow",
        "path": "/slow",
        "latency_warning_seconds": 0.01,
        "latency_critical_seconds": 60,
    }
    config = write_config(
        {
            "panel_url": panel_http,
            "resources": {"enabled": False},
            "http": {"include_panel_defaults": False, "targets": [target]},
        }
    )
    result = _cli("check", env={"PANEL_HEALTH_CONFIG": str(config)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "\x1b[" not in result.stdout
    header = result.stdout.splitlines()[0].split()
    assert header == ["check", "status", "measurement", "value", "result", "threshold", "note"]
    latency_row = next(line for line in result.stdout.splitlines() if "responseTime" in line)
    assert latency_row.split()[:2] == ["http:slow", "warn"] and " warn " in latency_row[20:]
    status_row = next(line for line in result.stdout.splitlines() if "statusCode" in line)
    assert status_row.split()[:3] == ["statusCode", "200", "pass"], result.stdout
