"""A real Prometheus server for the health suite: scrapes what it is given, loads the panel's alert rules."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from support.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts/panel/files/prometheus/panel-alerts.rules.yaml"
DASHBOARDS = sorted((REPO / "charts/panel/files/grafana").glob("*.json"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Prometheus:
    def __init__(
        self,
        base_dir: Path,
        exporter_address: str | None = None,
        scrape_configs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.port = free_port()
        if scrape_configs is None:
            scrape_configs = [{"job_name": "health", "static_configs": [{"targets": [exporter_address]}]}]
        config = {
            "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": scrape_configs,
        }
        config_path = base_dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log = base_dir / "prometheus.log"
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={base_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def query(self, expr: str) -> dict[str, Any]:
        return self.client.get("/api/v1/query", params={"query": expr}).json()

    def wait_for(self, expr: str, what: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.query(expr)
            if answer["status"] == "success" and answer["data"]["result"]:
                return list(answer["data"]["result"])
            time.sleep(0.5)
        raise AssertionError(f"Prometheus never showed {what} ({expr}); log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
