"""The loadtest image: the smoke scenario against the panel container passes and writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

from image_podman import PanelStack, give_to_image_user, run

# Errors fail the run; latency bounds far beyond any machine keep the verdict free of timing.
UNTIMED = {"LOADTEST_MAX_AVG_MS": "600000", "LOADTEST_MAX_P95_MS": "600000", "LOADTEST_MAX_P99_MS": "600000"}


def test_smoke_scenario_passes_and_writes_reports(panel_stack: PanelStack, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    give_to_image_user(reports, 0o700)
    result = run(
        "loadtest",
        "run",
        "--scenario",
        "smoke",
        "--duration-scale",
        "0.25",
        "--report-dir",
        "/reports",
        env={
            "PANEL_URL": panel_stack.url,
            "LOADTEST_USERNAME": panel_stack.admin_username,
            "LOADTEST_PASSWORD": panel_stack.admin_password,
            **UNTIMED,
        },
        volumes=[f"{reports}:/reports"],
        timeout=600,
    )
    assert result.returncode == 0, result.output
    for name in ("summary.json", "junit.xml", "report.html", "locust_stats.csv"):
        assert (reports / name).is_file(), f"{name} missing; have {sorted(p.name for p in reports.iterdir())}"
    summary = json.loads((reports / "summary.json").read_text())
    assert summary, "empty summary.json"
    assert panel_stack.admin_password not in result.stdout + result.stderr
