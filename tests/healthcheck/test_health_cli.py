"""The `panel-health check` command as a pipeline runs it: exit codes, JSON document, plain text, perf."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Config = Callable[[dict[str, Any]], Path]


def _run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panel_health", "check", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin"), "PANEL_HEALTH_CONFIG": str(config), **(env or {})},
        timeout=120,
    )


def _config(panel_http: str, **extra: Any) -> dict[str, Any]:
    return {"panel_url": panel_http, "resources": {"enabled": False}, **extra}


def test_all_good_exits_0_with_plain_text(write_config: Config, panel_http: str) -> None:
    relaxed = {"latency_warning_seconds": 30, "latency_critical_seconds": 60}
    targets = [
        {"name": name, "path": path, **relaxed} for name, path in (("health", "/readyz"), ("main", "/"))
    ]
    result = _run(write_config(_config(panel_http, http={"targets": targets})))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b[" not in result.stdout  # not a terminal: no colour codes
    assert "http:health" in result.stdout and "overall: pass (exit 0)" in result.stdout


@pytest.mark.parametrize(
    ("target", "code", "verdict"),
    [
        (
            {
                "name": "slow",
                "path": "/slow",
                "latency_warning_seconds": 0.01,
                "latency_critical_seconds": 60,
            },
            1,
            "warn",
        ),
        ({"name": "broken", "path": "/broken"}, 2, "fail"),
    ],
)
def test_warning_and_critical_exit_codes(
    write_config: Config, panel_http: str, target: dict[str, Any], code: int, verdict: str
) -> None:
    config = _config(panel_http, http={"include_panel_defaults": False, "targets": [target]})
    result = _run(write_config(config), "--format", "json")
    assert result.returncode == code, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert (document["status"], document["verdict"], document["exitCode"]) == (verdict, verdict, code)


def test_unknown_exits_3(write_config: Config, panel_http: str, tmp_path: Path) -> None:
    config = _config(panel_http, logs={"sources": [{"name": "app", "path": str(tmp_path / "missing")}]})
    result = _run(write_config(config), "--check", "logs")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "overall: unknown (exit 3)" in result.stdout


def test_json_document_entries(write_config: Config, panel_http: str, tmp_path: Path) -> None:
    secret = tmp_path / "redis-url"
    secret.write_text("redis://:very-secret@127.0.0.1:1/0")  # nothing listens on port 1
    result = _run(
        write_config(_config(panel_http)),
        "--format",
        "json",
        "--check",
        "http:health",
        "--check",
        "redis",
        env={"REDIS_URL_FILE": str(secret)},
    )
    assert result.returncode == 2
    assert "very-secret" not in result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "fail" and document["mode"] == "health"
    latency = document["checks"]["http:health:responseTime"][0]
    assert latency["status"] in ("pass", "warn") and latency["observedUnit"] == "s"
    assert latency["threshold"] == {"warn": 1.0, "fail": 5.0}
    assert isinstance(latency["observedValue"], float)
    redis_entry = document["checks"]["redis:availability"][0]
    assert redis_entry["status"] == "fail" and redis_entry["output"].startswith("connection_refused")


def test_perf_mode_reports_percentiles(write_config: Config, panel_http: str) -> None:
    config = _config(panel_http, perf={"requests": 60, "concurrency": 6, "targets": ["health", "api"]})
    result = _run(write_config(config), "perf", "--format", "json")
    assert result.returncode in (0, 1), result.stdout + result.stderr  # latency on a busy CI box may warn
    checks = json.loads(result.stdout)["checks"]
    assert {"perf:p50", "perf:p95", "perf:p99", "perf:errorRatio", "perf:throughput"} <= set(checks)
    assert checks["perf:errorRatio"][0]["observedValue"] == 0
    assert checks["perf:p50"][0]["observedValue"] <= checks["perf:p99"][0]["observedValue"]


def test_perf_error_ratio_fails(write_config: Config, panel_http: str) -> None:
    config = _config(
        panel_http,
        http={"targets": [{"name": "flaky", "path": "/flaky"}]},
        perf={"requests": 40, "concurrency": 4, "targets": ["flaky"]},
    )
    result = _run(write_config(config), "perf", "--format", "json")
    assert result.returncode == 2
    ratio = json.loads(result.stdout)["checks"]["perf:errorRatio"][0]
    assert ratio["observedValue"] == 0.5 and ratio["status"] == "fail"


def test_all_mode_runs_both(write_config: Config, panel_http: str) -> None:
    config = _config(panel_http, perf={"requests": 10, "concurrency": 2, "targets": ["health"]})
    result = _run(write_config(config), "all", "--format", "json")
    keys = set(json.loads(result.stdout)["checks"])
    assert "http:main:statusCode" in keys and "perf:p95" in keys


def test_perf_unknown_target_is_a_config_error(write_config: Config, panel_http: str) -> None:
    result = _run(write_config(_config(panel_http, perf={"targets": ["nope"]})), "perf")
    assert result.returncode == 2
    assert "perf.targets: unknown HTTP target(s) nope; known targets: api, health, main" in result.stderr
