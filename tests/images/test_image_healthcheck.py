"""The healthcheck image: `serve` answers /metrics, `check` exits with the documented code."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from image_podman import PanelStack, detached, give_to_image_user, run, wait_for_http
from support.servers import free_port

# Reachability is under test, not the latency of a busy CI machine: thresholds far beyond any stall.
CONFIG = """\
http:
  include_panel_defaults: false
  targets:
    - {name: health, path: /readyz, latency_warning_seconds: 120, latency_critical_seconds: 240}
postgres: {latency_warning_seconds: 120, latency_critical_seconds: 240}
redis: {latency_warning_seconds: 120, latency_critical_seconds: 240}
"""


@pytest.fixture
def health_config(tmp_path: Path) -> str:
    config_dir = tmp_path / "health"
    config_dir.mkdir(mode=0o755)
    (config_dir / "health.yaml").write_text(CONFIG)
    give_to_image_user(config_dir / "health.yaml", 0o400)
    return f"{config_dir}:/etc/panel-health:ro"


def _env(stack: PanelStack, **overrides: str) -> dict[str, str]:
    return {
        "PANEL_HEALTH_CONFIG": "/etc/panel-health/health.yaml",
        "PANEL_URL": stack.url,
        "DATABASE_URL": stack.env["DATABASE_URL"],
        "REDIS_URL": stack.env["REDIS_URL"],
        **overrides,
    }


def test_serve_answers_metrics(panel_stack: PanelStack, health_config: str) -> None:
    port = free_port()
    with detached(
        "healthcheck",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=_env(panel_stack),
        volumes=[health_config],
    ) as exporter:
        assert wait_for_http(f"http://127.0.0.1:{port}/healthz", exporter).status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60)
        assert metrics.status_code == 200
        assert "panel_health_" in metrics.text
        assert 'panel_health_http_up{target="health"} 1.0' in metrics.text, metrics.text[-3000:]


def test_check_exits_0_against_the_running_panel(panel_stack: PanelStack, health_config: str) -> None:
    result = run(
        "healthcheck",
        "check",
        "health",
        "--check",
        "http",
        "--check",
        "postgres",
        "--check",
        "redis",
        env=_env(panel_stack),
        volumes=[health_config],
    )
    assert result.returncode == 0, result.output


def test_check_exits_2_when_the_panel_is_down(panel_stack: PanelStack, health_config: str) -> None:
    nothing = f"http://127.0.0.1:{free_port()}"
    result = run(
        "healthcheck",
        "check",
        "health",
        "--check",
        "http",
        env=_env(panel_stack, PANEL_URL=nothing),
        volumes=[health_config],
    )
    assert result.returncode == 2, result.output
