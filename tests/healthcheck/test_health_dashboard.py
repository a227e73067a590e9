"""Every Grafana dashboard panel returns data against the real services (issue 15 item 11).

A real Prometheus scrapes the real panel (gunicorn web + RQ worker on the session PostgreSQL and Redis),
the exporter, and a real backup run's metrics (panel-backup's node-exporter textfile, served over HTTP the
way node-exporter's textfile collector would). Then each panel's queries run with the dashboard's
variables filled in, and every panel must return data, except the panels whose description says
"Empty unless ...": those depend on configuration or on something being wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from health_prometheus import DASHBOARDS, PROMETHEUS, Prometheus
from health_servers import TlsServer, make_certificate
from panel_health.exporter import HealthExporter
from panel_health.settings import HealthSettings
from support.running_panel import RunningPanel, metrics_port_supported

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CONDITIONAL = "Empty unless"
DATA_BUDGET_SECONDS = 150


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def textfile_server(directory: Path) -> Iterator[str]:
    """Serves the backup's metrics textfile over HTTP, as node-exporter's textfile collector would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(directory)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def backup_run(tmp_path: Path) -> Path:
    """A real `panel-backup create files` run that writes its metrics textfile."""
    data = tmp_path / "uploads"
    data.mkdir()
    (data / "report.txt").write_text("panel upload\n" * 100)
    metrics = tmp_path / "backup-metrics"
    metrics.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BACKUP_")},
        "BACKUP_TARGET": f"file://{tmp_path / 'backups'}",
        "BACKUP_AGE_PASSPHRASE": "dashboard-test-passphrase-0123456789",
        "BACKUP_FILES_PATHS": str(data),
        "BACKUP_METRICS_TEXTFILE": str(metrics / "panel_backup.prom"),
        "BACKUP_WORK_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "panel-backup"), "create", "files"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "panel_backup_last_success_timestamp_seconds" in (metrics / "panel_backup.prom").read_text()
    return metrics


def panel_traffic(url: str, username: str, password: str) -> None:
    """Sign in, add a server, queue a check, read the cached list, and ask for a page that does not exist."""
    with httpx.Client(base_url=url, timeout=30) as client:
        token = client.post("/api/v2/auth/token", json={"username": username, "password": password}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        created = client.post(
            "/api/v2/servers", json={"name": "db-1", "address": "127.0.0.1", "port": 1, "protocol": "tcp"}
        )
        assert created.status_code == 201, created.text
        assert client.post(f"/api/v2/servers/{created.json()['id']}/check").status_code == 202
        for _ in range(3):
            assert client.get("/api/v2/servers").status_code == 200
            assert client.get("/api/v2/summary").status_code == 200
        assert client.get("/no-such-page").status_code == 404


def panel_metrics_targets(panel: RunningPanel) -> list[str]:
    """Where the panel serves its metrics: web and worker on their own METRICS_PORT (contract C2), or,
    before the panel reads METRICS_PORT, the web's app port."""
    if not metrics_port_supported():
        return [f"127.0.0.1:{panel.port}"]
    ports = [panel.metrics_port, panel.worker_metrics_port]
    return [f"127.0.0.1:{port}" for port in ports if port is not None]


def concrete(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$job", ".*").replace("$app_job", ".*")


def panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in document["panels"]:
        if panel["type"] != "row":
            yield panel
        yield from (p for p in panel.get("panels", []) if p["type"] != "row")


@pytest.fixture
def stack(
    real_panel: RunningPanel,
    tmp_path: Path,
    make_settings: Callable[..., HealthSettings],
    run_exporter: Callable[[HealthSettings], tuple[str, HealthExporter]],
    request: pytest.FixtureRequest,
) -> Iterator[Prometheus]:
    panel = real_panel
    tls_server = TlsServer(*make_certificate(tmp_path, "panel", 60, ["panel.test"]))
    request.addfinalizer(tls_server.close)
    (tmp_path / "app.log").write_text(json.dumps({"levelname": "INFO", "message": "started"}) + "\n")
    settings = make_settings(
        panel_url=panel.url,
        database_url=panel.database_url,
        redis_url=panel.redis_url,
        resources={"disk_paths": [str(tmp_path)], "cpu_sample_seconds": 0.05},
        tls={
            "targets": [
                {
                    "name": "panel",
                    "host": "127.0.0.1",
                    "port": tls_server.port,
                    "server_name": "panel.test",
                }
            ]
        },
        logs={"sources": [{"name": "app", "path": str(tmp_path / "app.log")}]},
        perf={"export": True, "requests": 20, "concurrency": 2},
        # Reachability is what this test is about, not the latency of a busy machine.
        postgres={"latency_warning_seconds": 30, "latency_critical_seconds": 60},
        redis={"latency_warning_seconds": 30, "latency_critical_seconds": 60},
    )
    exporter_url, _ = run_exporter(settings)
    with textfile_server(backup_run(tmp_path)) as backup_address:
        scrape = [
            {
                "job_name": "panel-healthcheck",
                "static_configs": [{"targets": [exporter_url.removeprefix("http://")]}],
            },
            {"job_name": "panel-web", "static_configs": [{"targets": panel_metrics_targets(panel)}]},
            {
                "job_name": "panel-backup",
                "metrics_path": "/panel_backup.prom",
                "static_configs": [{"targets": [backup_address]}],
            },
        ]
        prometheus = Prometheus(tmp_path, scrape_configs=scrape)
        try:
            panel_traffic(panel.url, panel.admin_username, panel.admin_password)
            yield prometheus
        finally:
            prometheus.stop()


@pytest.mark.timeout(600)  # a real panel, a backup run and Prometheus, on a machine shared with others
@pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="needs the prometheus binary (ci/bootstrap.sh)")
def test_every_dashboard_panel_returns_data_against_the_real_services(stack: Prometheus) -> None:
    prom = stack
    for job in ("panel-healthcheck", "panel-web", "panel-backup"):
        prom.wait_for(f'up{{job="{job}"}} == 1', f"{job} scraped", timeout=90)
    for dashboard in DASHBOARDS:
        document = json.loads(dashboard.read_text())
        variables = {v["name"]: v for v in document["templating"]["list"]}
        # The variables' own queries find the jobs.
        for name in [n for n in ("job", "app_job") if n in variables]:
            metric = re.search(r"label_values\((\w+)", variables[name]["definition"]).group(1)  # type: ignore[union-attr]
            prom.wait_for(metric, f"${name}'s metric {metric}")
        pending: dict[str, list[str]] = {}
        for panel in panels(document):
            expressions = [concrete(t["expr"]) for t in panel.get("targets", []) if "expr" in t]
            assert expressions, panel["title"]
            for expr in expressions:  # every query is valid PromQL, conditional panels included
                assert prom.query(expr)["status"] == "success", (panel["title"], expr)
            if CONDITIONAL not in panel.get("description", ""):
                pending[panel["title"]] = expressions
        # rate() needs two scrapes in its window: poll until every panel has data, within one budget.
        deadline = time.monotonic() + DATA_BUDGET_SECONDS
        while pending and time.monotonic() < deadline:
            pending = {
                title: expressions
                for title, expressions in pending.items()
                if not any(prom.query(expr)["data"]["result"] for expr in expressions)
            }
            time.sleep(1)
        assert not pending, "panels without data:\n" + "\n".join(f"{t}: {e}" for t, e in pending.items())


def test_every_panel_is_either_fed_or_documented_as_conditional() -> None:
    """Static companion of the test above: the conditional panels are few and each says when it fills."""
    for dashboard in DASHBOARDS:
        document = json.loads(dashboard.read_text())
        conditional = [p["title"] for p in panels(document) if CONDITIONAL in p.get("description", "")]
        assert sorted(conditional) == sorted(
            [
                "Down reasons",
                "Oldest queued job age",
                "Certificate days left",
                "Log error ratio",
                "Probe latency",
                "Probe errors and throughput",
            ]
        )
        text = json.dumps(document)
        assert "panel_backup_duration_seconds" not in text and '"panel_backup_bytes' not in text
        for name in (
            "panel_http_requests_total",
            "panel_http_request_duration_seconds_bucket",
            "panel_health_rq_jobs",
        ):
            assert name in text, name
