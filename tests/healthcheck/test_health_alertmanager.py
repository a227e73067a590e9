"""The inhibit rules documented in charts/panel/docs/runbooks.md, loaded into a real Alertmanager: a
critical certificate or queue alert silences its warning twin for the same target, and nothing else
(issue 15 item 10)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "charts/panel/docs/runbooks.md"
ALERTMANAGER = (
    shutil.which("prometheus-alertmanager")
    or shutil.which("alertmanager")
    or "/usr/bin/prometheus-alertmanager"
)


def documented_inhibit_rules() -> list[dict[str, Any]]:
    """The YAML block under the runbook's "Inhibit rules" heading, exactly as an operator copies it."""
    section = RUNBOOKS.read_text().split("### Inhibit rules", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    return list(yaml.safe_load(block)["inhibit_rules"])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[httpx.Client]:
    port = free_port()
    config = {
        "route": {"receiver": "null", "group_wait": "1h"},
        "receivers": [{"name": "null"}],
        "inhibit_rules": documented_inhibit_rules(),
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=10) as client:
            yield client
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "namespace": "panel", "job": "health", **labels},
        "startsAt": datetime.now(UTC).isoformat(),
    }


def test_critical_silences_its_warning_twin_and_nothing_else(alertmanager: httpx.Client) -> None:
    cert = {"panel_alert": "certificate_expiry"}
    queue = {"panel_alert": "queue_depth", "state": "queued"}
    alerts = [
        _alert("PanelCertificateExpiryCritical", "critical", target="panel", **cert),
        _alert("PanelCertificateExpiringSoon", "warning", target="panel", **cert),
        _alert("PanelCertificateExpiringSoon", "warning", target="docs", **cert),  # another host
        _alert("PanelQueueBackedUp", "critical", queue="panel", **queue),
        _alert("PanelQueueBackingUp", "warning", queue="panel", **queue),
        _alert("PanelQueueBackingUp", "warning", queue="mail", **queue),  # another queue
        _alert("PanelDependencyDown", "critical", check="postgres"),  # no panel_alert: inhibits nothing
        _alert("PanelDiskPressure", "warning", path="/tmp"),
    ]
    assert alertmanager.post("/alerts", json=alerts).status_code == 200
    deadline = time.monotonic() + 30
    while True:
        state = {
            (a["labels"]["alertname"], a["labels"].get("target") or a["labels"].get("queue") or ""): a[
                "status"
            ]
            for a in alertmanager.get("/alerts").json()
        }
        if len(state) == len(alerts) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    inhibited = {key for key, status in state.items() if status["inhibitedBy"]}
    assert inhibited == {("PanelCertificateExpiringSoon", "panel"), ("PanelQueueBackingUp", "panel")}, state
    assert state[("PanelDiskPressure", "")]["state"] == "active"
    assert state[("PanelCertificateExpiringSoon", "docs")]["state"] == "active"
