"""Shared helpers of the chart's static test tier (fixtures are in conftest.py).

The toolchain comes from ci/tools.sh (built once into a cache outside the repository; later runs only
check it). Scenarios are charts/panel/ci/*-values.yaml; `production` is values-prod.yaml.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# PANEL_CHART_DIR points the suite at another copy of the chart, e.g. the previous commit's, to show that
# a new test fails there.
CHART_DIR = Path(os.environ.get("PANEL_CHART_DIR", REPO_ROOT / "charts" / "panel")).resolve()
CI_CHART_DIR = REPO_ROOT / "ci" / "chart"
NAMESPACE = "panel"
RELEASE = "panel"
KUBERNETES_VERSIONS = [f"1.{minor}.0" for minor in range(30, 38)]


# Scenarios that need CRDs beyond the e2e tier's default set live here, not in charts/panel/ci/.
EXTRA_SCENARIO_DIR = CI_CHART_DIR / "scenarios"


def scenario_files() -> dict[str, Path]:
    """Scenario name -> values file, e.g. "defaults" -> charts/panel/ci/defaults-values.yaml, and the
    CRD-dependent ones in ci/chart/scenarios/."""
    paths = [
        *sorted((CHART_DIR / "ci").glob("*-values.yaml")),
        *sorted(EXTRA_SCENARIO_DIR.glob("*-values.yaml")),
    ]
    return {path.name.removesuffix("-values.yaml"): path for path in paths}


SCENARIOS = sorted(scenario_files())


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the pinned tools (see ci/tools.sh for versions)."""

    paths: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.paths[name]

    @property
    def env(self) -> dict[str, str]:
        """Environment in which `helm` is Helm 3 (what chart-testing and helm-unittest expect)."""
        helm_dir = str(Path(self.paths["helm3"]).parent)
        venv_bin = str(Path(sys.executable).parent)  # yamllint and yamale, which ct runs
        return {**os.environ, "PATH": os.pathsep.join([helm_dir, venv_bin, os.environ.get("PATH", "")])}


def run(command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> str:
    """Run a tool; on failure, fail the test with its full output (the output is the diagnosis)."""
    result = subprocess.run(list(command), capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def helm_template(
    tools: Tools, values: Sequence[Path], *extra: str, helm: str = "helm3", release: str = RELEASE
) -> str:
    command = [tools[helm], "template", release, str(CHART_DIR), "--namespace", NAMESPACE]
    for path in values:
        command += ["--values", str(path)]
    return run([*command, *extra], env=tools.env)


def documents(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def pod_specs(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(description, pod spec) of every pod a manifest creates."""
    kind = document.get("kind")
    name = f"{kind}/{document.get('metadata', {}).get('name')}"
    spec = document.get("spec", {})
    if kind == "Pod":
        return [(name, spec)]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [(name, spec["template"]["spec"])]
    if kind == "CronJob":
        return [(name, spec["jobTemplate"]["spec"]["template"]["spec"])]
    return []


def install_tools() -> Tools:
    """Run ci/tools.sh (builds what is missing, once) and return the tools' paths."""
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "ci" / "tools.sh")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"ci/tools.sh failed (exit {result.returncode}):\n{result.stderr}", pytrace=False)
    paths = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return Tools(paths)
