"""kubeconform -strict over every scenario for every Kubernetes minor 1.30-1.37, CRDs included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from chart_support import KUBERNETES_VERSIONS, Tools, run

pytestmark = pytest.mark.timeout(3600)

# kubeconform's template of the converted kubernetes-validate schemas (see ci/kube-schemas.py).
CORE_LAYOUT = (
    "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
    "{{ .ResourceKind }}{{ .KindSuffix }}.json"
)


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
def test_manifests_match_the_api_schemas(tools: Tools, rendered_dir: Path, kubernetes_version: str) -> None:
    schemas = tools["kube-schemas"]
    output = run(
        [
            tools["kubeconform"],
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            kubernetes_version,
            "-schema-location",
            schemas + CORE_LAYOUT,
            "-schema-location",
            schemas + "/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
            *sorted(str(path) for path in rendered_dir.glob("*.yaml")),
        ],
        env=tools.env,
    )
    # A missing schema counts as "skipped" and would hide a typo in apiVersion/kind: refuse it.
    assert "Skipped: 0" in output, output
    assert "Invalid: 0, Errors: 0" in output, output


BROKEN = {
    "deployment": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicaz: 1\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        "    spec:\n      containers: [{name: c, image: i}]\n",
        "replicaz",
    ),
    "servicemonitor": (
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\n"
        "spec:\n  selector: {}\n  endpoints:\n    - port: metrics\n      intervall: 30s\n",
        "intervall",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_unknown_fields_are_rejected(tools: Tools, tmp_path: Path, case: str) -> None:
    # Proves the converted schemas are really used, and strictly: a typo must fail, not be skipped.
    manifest, typo = BROKEN[case]
    (tmp_path / "broken.yaml").write_text(manifest)
    schemas = tools["kube-schemas"]
    result = subprocess.run(
        [
            tools["kubeconform"],
            "-strict",
            "-kubernetes-version",
            "1.37.0",
            "-schema-location",
            schemas + CORE_LAYOUT,
            "-schema-location",
            schemas + "/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
            str(tmp_path / "broken.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert typo in result.stdout, result.stdout


def test_crd_kinds_are_rendered_in_a_scenario(rendered_dir: Path) -> None:
    # Each CRD kind the chart can render is validated against its schema in some scenario.
    text = (rendered_dir / "everything.yaml").read_text()
    for kind in ("ServiceMonitor", "PrometheusRule", "Certificate"):
        assert f"kind: {kind}" in text
    extras = (rendered_dir / "crd-extras.yaml").read_text()
    for kind in ("ScaledObject", "HTTPRoute"):
        assert f"kind: {kind}" in extras
