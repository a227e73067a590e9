"""helm lint --strict with Helm 3 and Helm 4 for every scenario, and chart-testing's `ct lint`."""

from __future__ import annotations

import pytest
from chart_support import CHART_DIR, CI_CHART_DIR, NAMESPACE, SCENARIOS, Tools, run, scenario_files

# The first test of a cold run builds the toolchain (ci/tools.sh), which takes minutes.
pytestmark = pytest.mark.timeout(3600)


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(tools: Tools, helm: str, scenario: str) -> None:
    output = run(
        [
            tools[helm],
            "lint",
            "--strict",
            str(CHART_DIR),
            "--namespace",
            NAMESPACE,
            "--values",
            str(scenario_files()[scenario]),
        ],
        env=tools.env,
    )
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_helm_binaries_report_pinned_versions(tools: Tools, helm: str) -> None:
    # `-X` on a missing symbol is silently ignored: prove the ldflags reached the binary.
    version = run([tools[helm], "version", "--template", "{{ .Version }}"], env=tools.env)
    assert version.startswith("v3.22." if helm == "helm3" else "v4.3.")


def test_helm3_assumes_a_current_kubernetes(tools: Tools) -> None:
    # Built without the Makefile's ldflags, Helm 3 believes the cluster is Kubernetes 1.20, and the
    # chart's `kubeVersion: >=1.30.0-0` makes it refuse to render; with them, it renders.
    output = run(
        [
            tools["helm3"],
            "template",
            "x",
            str(CHART_DIR),
            "--show-only",
            "templates/shared/configmap.yaml",
            "--values",
            str(scenario_files()["defaults"]),
        ],
        env=tools.env,
    )
    assert "kind: ConfigMap" in output


def test_ct_lint(tools: Tools) -> None:
    output = run(
        [
            tools["ct"],
            "lint",
            "--charts",
            str(CHART_DIR),
            "--config",
            str(CI_CHART_DIR / "ct.yaml"),
            "--lint-conf",
            str(CI_CHART_DIR / "lintconf.yaml"),
            "--chart-yaml-schema",
            str(CI_CHART_DIR / "chart_schema.yaml"),
        ],
        env=tools.env,
    )
    assert "All charts linted successfully" in output
