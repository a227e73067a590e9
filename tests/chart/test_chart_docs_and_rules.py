"""The chart README's parameter table is generated from values.yaml (helm-docs) and must not drift;
every value is documented; the alert rules (files/prometheus) pass promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from chart_support import CHART_DIR, REPO_ROOT, Tools, run

pytestmark = pytest.mark.timeout(3600)

PROMETHEUS_DIR = CHART_DIR / "files" / "prometheus"


def generated_readme(tools: Tools) -> str:
    return run(
        [
            tools["helm-docs"],
            "--chart-search-root",
            str(CHART_DIR),
            "--template-files",
            "README.md.gotmpl",
            "--sort-values-order",
            "file",
            "--dry-run",
            "--log-level",
            "warning",
        ],
        env=tools.env,
    )


def test_readme_matches_values(tools: Tools) -> None:
    expected = generated_readme(tools)
    actual = (CHART_DIR / "README.md").read_text()
    assert actual.strip() == expected.strip(), (
        "charts/panel/README.md is out of date with values.yaml; regenerate it with:\n"
        "  $(bash ci/tools.sh | sed -n 's/^helm-docs=//p') --chart-search-root charts/panel "
        "--template-files README.md.gotmpl --sort-values-order file"
    )


def test_every_value_is_documented(tools: Tools) -> None:
    rows = [line for line in generated_readme(tools).splitlines() if re.match(r"^\| [a-zA-Z]", line)]
    assert len(rows) > 100
    undocumented = [row.split("|")[1].strip() for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def rule_files() -> list[Path]:
    return sorted(p for p in PROMETHEUS_DIR.glob("*.y*ml") if "test" not in p.name)


def rule_tests() -> list[Path]:
    # Unit tests live next to the rules or with the exporter's suite (tests/healthcheck/rules).
    candidates = [
        *PROMETHEUS_DIR.rglob("*.y*ml"),
        *(REPO_ROOT / "tests" / "healthcheck" / "rules").glob("*.y*ml"),
    ]
    return sorted(p for p in candidates if "test" in p.name)


def test_alert_rules_pass_promtool_check() -> None:
    if not rule_files():
        pytest.skip("no alert rules in charts/panel/files/prometheus yet")
    result = subprocess.run(
        ["promtool", "check", "rules", *map(str, rule_files())], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests() -> None:
    if not rule_tests():
        pytest.skip("no promtool rule tests in charts/panel/files/prometheus yet")
    for test_file in rule_tests():
        result = subprocess.run(
            ["promtool", "test", "rules", str(test_file.name)],
            capture_output=True,
            text=True,
            cwd=test_file.parent,
            check=False,
        )
        assert result.returncode == 0, f"{test_file}:\n{result.stdout}{result.stderr}"
