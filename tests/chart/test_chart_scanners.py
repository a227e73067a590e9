"""kube-score and checkov over every scenario: zero findings. Every skipped check is listed, with its
reason, in ci/chart/kube-score.yaml or ci/chart/checkov.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_support import CI_CHART_DIR, SCENARIOS, Tools

pytestmark = pytest.mark.timeout(3600)


def kube_score_config() -> dict[str, dict[str, str]]:
    return yaml.safe_load((CI_CHART_DIR / "kube-score.yaml").read_text())


def test_every_skipped_check_has_a_reason() -> None:
    for tool, config in (("kube-score", kube_score_config()), ("checkov", checkov_config())):
        for check, reason in config["skip"].items():
            assert isinstance(reason, str) and len(reason.split()) >= 4, (
                f"{tool} {check}: give a one-line reason"
            )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kube_score_finds_nothing(tools: Tools, rendered_dir: Path, scenario: str) -> None:
    config = kube_score_config()
    command = [tools["kube-score"], "score", "--output-format", "ci", "--kubernetes-version", "v1.30"]
    for check in config["skip"]:
        command += ["--ignore-test", check]
    for check in config.get("enable", []):
        command += ["--enable-optional-test", check]
    result = subprocess.run(
        [*command, str(rendered_dir / f"{scenario}.yaml")], capture_output=True, text=True, check=False
    )
    findings = [line for line in result.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))]
    assert not findings, "\n".join(findings)
    assert result.returncode == 0, result.stdout + result.stderr


def checkov_config() -> dict[str, dict[str, str]]:
    return yaml.safe_load((CI_CHART_DIR / "checkov.yaml").read_text())


def test_checkov_finds_nothing(tools: Tools, rendered_dir: Path, tmp_path: Path) -> None:
    # One checkov run over all scenarios: its start-up dominates the cost.
    skip = ",".join(checkov_config()["skip"])
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [
            tools["checkov-python"],
            "-m",
            "checkov.main",
            "--directory",
            str(rendered_dir),
            "--framework",
            "kubernetes",
            "--skip-check",
            skip,
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({Path(check['file_path']).name})"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert sum(report.get("summary", {}).get("passed", 0) for report in reports) > 100
