"""Fixtures for the panel-health tests: settings builders, local servers and a running exporter."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from health_servers import BlackHole, panel_like_http_server
from panel_health.exporter import HealthExporter, make_exporter_server
from panel_health.settings import HealthSettings, load_settings

QUIET_RESOURCES = {"enabled": False}


@pytest.fixture(autouse=True)
def _no_ambient_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide every input; a developer's own PANEL_URL etc. must not leak in."""
    for name in ("PANEL_HEALTH_CONFIG", "PANEL_URL", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


@pytest.fixture(scope="session")
def panel_http() -> Iterator[str]:
    """Base URL of a local HTTP server that answers like the panel's public endpoints."""
    with panel_like_http_server() as url:
        yield url


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "panel-health.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def make_settings(write_config: Callable[[dict[str, Any]], Path]) -> Callable[..., HealthSettings]:
    """Settings through the real loader (YAML file), with resources off unless asked for."""

    def build(**data: Any) -> HealthSettings:
        data.setdefault("resources", QUIET_RESOURCES)
        return load_settings(write_config(data))

    return build


@pytest.fixture
def run_exporter() -> Iterator[Callable[[HealthSettings], tuple[str, HealthExporter]]]:
    servers = []

    def start(settings: HealthSettings) -> tuple[str, HealthExporter]:
        server, app = make_exporter_server(settings, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}", app

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
