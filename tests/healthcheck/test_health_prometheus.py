"""End to end with a real Prometheus server: it scrapes the exporter (sending its scrape-timeout header),
evaluates the alert rules, and answers PromQL for every dashboard panel; plus the promtool rule tests."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from health_prometheus import DASHBOARDS, PROMTOOL, RULES, Prometheus
from health_servers import BlackHole
from panel_health.exporter import HealthExporter
from panel_health.settings import HealthSettings

RULE_TESTS = sorted((Path(__file__).parent / "rules").glob("*.yaml"))


def test_rule_files_are_valid() -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(rule_test: Path) -> None:
    result = subprocess.run(
        [PROMTOOL, "test", "rules", rule_test.name], cwd=rule_test.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_test_and_a_severity() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    tested = "\n".join(p.read_text() for p in RULE_TESTS)
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert f"alertname: {rule['alert']}\n" in tested, f"{rule['alert']} has no promtool test"


@pytest.fixture
def prometheus_scraping(
    make_settings: Callable[..., HealthSettings],
    run_exporter: Callable[[HealthSettings], tuple[str, HealthExporter]],
    panel_http: str,
    redis_url: str,
    black_hole: BlackHole,
    tmp_path: Path,
) -> Iterator[Prometheus]:
    settings = make_settings(
        panel_url=panel_http,
        redis_url=redis_url,
        # PostgreSQL is black-holed and its own timeout is far longer than Prometheus waits.
        database_url=f"postgresql://panel:secret@127.0.0.1:{black_hole.port}/panel",
        postgres={"timeout_seconds": 60},
    )
    url, _ = run_exporter(settings)
    server = Prometheus(tmp_path, url.removeprefix("http://"))
    yield server
    server.stop()


@pytest.mark.redis
def test_prometheus_scrapes_in_time_despite_a_hung_database(prometheus_scraping: Prometheus) -> None:
    prom = prometheus_scraping
    # The scrape succeeded (up == 1) although PostgreSQL never answers: the deadline held.
    prom.wait_for('up{job="health"} == 1', "a successful scrape")
    [deadline] = prom.wait_for('panel_health_scrape_deadline_seconds{job="health"}', "the deadline")
    assert float(deadline["value"][1]) == 1.5  # Prometheus's 2 s timeout header minus the 0.5 s margin
    down_reason = 'panel_health_check_down_reason{check="postgres",reason="deadline_exceeded"} == 1'
    prom.wait_for(down_reason, "postgres reported down")
    prom.wait_for("panel_health_postgres_up == 0 and panel_health_redis_up == 1", "postgres down, redis up")
    http = prom.wait_for('panel_health_http_up{job="health"}', "HTTP targets")
    assert {s["metric"]["target"] for s in http} == {"health", "main", "api"}
    prom.wait_for('count(panel_health_http_up{job="health"} == 1) == 3', "all HTTP targets up")
    # The alert rules run in the same Prometheus: the dependency alert is pending for postgres.
    [alert] = prom.wait_for(
        'ALERTS{alertname="PanelDependencyDown",alertstate="pending"}', "PanelDependencyDown pending"
    )
    assert alert["metric"]["check"] == "postgres"
    rules = prom.client.get("/api/v1/rules").json()["data"]["groups"]
    assert {g["name"] for g in rules} == {"panel-health", "panel-backup-schedule", "panel-backup"}
    assert all(r["health"] == "ok" for g in rules for r in g["rules"])

    # Every dashboard query parses and runs against the real server.
    for dashboard in DASHBOARDS:
        for expr in _dashboard_expressions(dashboard):
            concrete = expr.replace("$__rate_interval", "1m").replace("$job", ".*")
            answer = prom.query(concrete)
            assert answer["status"] == "success", (dashboard.name, expr, answer)
    # And the HTTP latency panel actually has data.
    assert prom.query('panel_health_http_duration_seconds{job=~".*"}')["data"]["result"]


def _dashboard_expressions(path: Path) -> list[str]:
    document = json.loads(path.read_text())
    found: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend(t["expr"] for t in panel.get("targets", []) if "expr" in t)
            walk(panel.get("panels", []))

    walk(document["panels"])
    return found


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_shape(dashboard: Path) -> None:
    document = json.loads(dashboard.read_text())
    assert document["uid"] and document["title"]
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids))
    expressions = _dashboard_expressions(dashboard)
    assert expressions
    names = set(re.findall(r"\b(panel_(?:health|backup)_[a-z_]+)", "\n".join(expressions)))
    # The backup panels use the backup service's agreed metric names.
    assert {"panel_backup_last_success_timestamp_seconds", "panel_backup_last_result"} <= names
