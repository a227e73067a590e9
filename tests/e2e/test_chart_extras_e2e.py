"""What the API server decides about the chart beyond the default scenarios, with Helm 4 and Helm 3:

- release names as long as Helm accepts (53 characters, dots, a leading digit) pass a server-side dry run
  of every object, and a real install creates every controller's objects (a StatefulSet's revision label,
  a CronJob's Jobs) under such a name;
- deploy/kustomize: the base and the production overlay pass `kubectl apply -k --server-side
  --dry-run=server`, and the production overlay installs and runs without Helm;
- the crd-extras scenario (KEDA ScaledObject, Gateway API HTTPRoute) passes a server-side dry run once
  those CRDs, read from the Go modules ci/tools.sh pins, are installed.

Like test_chart_e2e.py, this proves what the API server, admission and the controllers decide (kwok stands
in for kubelets), never what the images do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_cluster import (
    CHART_DIR,
    HELM_TIMEOUT,
    REPO_ROOT,
    SCENARIO_DIR,
    Cluster,
    _go_module_dir,
    _pinned,
    manifest_objects,
    provide_volumes,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-for-jobs", "--timeout", HELM_TIMEOUT)
KUSTOMIZE_DIR = REPO_ROOT / "deploy" / "kustomize"
EXTRA_SCENARIO = REPO_ROOT / "ci" / "chart" / "scenarios" / "crd-extras-values.yaml"
# 53 characters each: the longest release names Helm accepts, in the shapes Argo CD application names take.
LONG_RELEASES = (
    "argocd-application-for-the-production-panel-stack-eu1",
    "2026-argocd-application-for-the-production-panel-eu12",
    "team.platform.argocd-application-panel-production-eu1",
)


def server_side_dry_run(cluster: Cluster, namespace: str, manifests: str) -> None:
    """Every object through the API server's validation and admission; any warning fails."""
    applied = cluster.kubectl(
        "apply", "--dry-run=server", "--namespace", namespace, "-f", "-", stdin=manifests
    )
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("Warning")]
    assert not warnings, "the API server warns:\n" + "\n".join(warnings)
    assert applied.stdout.count("(server dry run)") == len(manifest_objects(manifests)), applied.stdout


def helm_dry_run(cluster: Cluster, helm: str, release: str, namespace: str, *values: str | Path) -> str:
    """`helm install --dry-run=server` (Helm checks its own rules against the cluster), then the manifest
    and hooks as one YAML stream for kubectl."""
    dry_run = cluster.helm(
        helm,
        "install",
        release,
        CHART_DIR,
        "--namespace",
        namespace,
        *values,
        "--dry-run=server",
        "--output",
        "json",
    )
    rendered = json.loads(dry_run.stdout)
    return "\n---\n".join([rendered["manifest"], *(hook["manifest"] for hook in rendered.get("hooks") or [])])


@pytest.mark.parametrize("scenario", ["everything", "loadtest", "defaults"])
def test_the_longest_release_names_pass_a_server_side_dry_run(
    cluster: Cluster, helm: str, namespace: str, scenario: str
) -> None:
    for release in LONG_RELEASES:
        manifests = helm_dry_run(
            cluster, helm, release, namespace, "-f", SCENARIO_DIR / f"{scenario}-values.yaml"
        )
        # The chart's own objects (extraDeploy's `<release>-extra` is the user's, named as given).
        names = [obj["metadata"]["name"] for obj in manifest_objects(manifests)]
        assert max(len(name) for name in names if not name.endswith("-extra")) <= 52, names
        server_side_dry_run(cluster, namespace, manifests)


def test_a_long_release_name_installs_and_runs(cluster: Cluster, helm: str, namespace: str) -> None:
    # The dry run cannot see the names the controllers make: a StatefulSet's controller-revision-hash
    # label (<name>-<hash>) and a CronJob's Jobs (<name>-<minutes>). A real install makes them.
    release = LONG_RELEASES[0]
    values = ("-f", SCENARIO_DIR / "defaults-values.yaml")
    rendered = cluster.helm(helm, "template", release, CHART_DIR, "--namespace", namespace, *values).stdout
    provide_volumes(cluster, namespace, rendered)
    cluster.helm(helm, "install", release, CHART_DIR, "--namespace", namespace, *values, *WAIT)
    for statefulset in cluster.get("statefulset", "-n", namespace)["items"]:
        status = statefulset["status"]
        assert status.get("readyReplicas") == 1 and status.get("currentRevision"), status
    cronjob = next(
        job["metadata"]["name"]
        for job in cluster.get("cronjob", "-n", namespace)["items"]
        if job["metadata"]["name"].endswith("-backup-database")
    )
    # What the CronJob controller does at the scheduled time: a Job named <cronjob>-<minutes since epoch>.
    scheduled = f"{cronjob}-{29_000_000:d}"
    assert len(scheduled) <= 63
    cluster.kubectl("create", "job", "--namespace", namespace, f"--from=cronjob/{cronjob}", scheduled)
    cluster.kubectl(
        "wait", "--namespace", namespace, "--for=condition=Complete", f"job/{scheduled}", "--timeout=120s"
    )
    cluster.helm(helm, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", HELM_TIMEOUT)


def kustomization_in(namespace: str, target: Path, workdir: Path) -> Path:
    """A user's kustomization on top of `target` that only sets the namespace (as the README shows)."""
    workdir.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        # kustomize takes bases by relative path only.
        "resources": [os.path.relpath(target, workdir)],
    }
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return workdir


@pytest.mark.parametrize("target", ["base", "overlays/production"])
def test_kustomize_applies_server_side(cluster: Cluster, namespace: str, target: str, tmp_path: Path) -> None:
    directory = kustomization_in(namespace, KUSTOMIZE_DIR / target, tmp_path / "mine")
    built = cluster.kubectl("kustomize", str(directory)).stdout
    assert {obj["metadata"]["namespace"] for obj in manifest_objects(built)} == {namespace}
    applied = cluster.kubectl("apply", "-k", str(directory), "--server-side", "--dry-run=server")
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("Warning")]
    assert not warnings, "the API server warns:\n" + "\n".join(warnings)
    assert applied.stdout.count("serverside-applied (server dry run)") == len(manifest_objects(built)), (
        applied.stdout
    )


def test_the_production_overlay_runs_without_helm(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    for name, keys in {
        "panel-app": {"secret-key": "e2e-only-" + "k" * 32, "jwt-secret": "e2e-only-" + "j" * 32},
        "panel-database": {"database-url": "postgresql://panel:e2e@db.example.internal:5432/panel"},
        "panel-redis": {"redis-url": "redis://:e2e@redis.example.internal:6379/0"},
        "panel-s3": {"access-key-id": "e2e", "secret-access-key": "e2e"},
        "panel-backup-encryption": {
            "recipients": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
        },
    }.items():
        literals = [f"--from-literal={key}={value}" for key, value in keys.items()]
        cluster.kubectl("create", "secret", "generic", name, "--namespace", namespace, *literals)
    directory = kustomization_in(namespace, KUSTOMIZE_DIR / "overlays" / "production", tmp_path / "mine")
    provide_volumes(cluster, namespace, cluster.kubectl("kustomize", str(directory)).stdout)
    cluster.kubectl("apply", "-k", str(directory), "--server-side")
    cluster.kubectl(
        "wait", "--namespace", namespace, "--for=condition=Available", "deployment", "--all", "--timeout=180s"
    )
    jobs = cluster.get("job", "-n", namespace)["items"]
    migrations = [
        job["metadata"]["name"] for job in jobs if job["metadata"]["name"].startswith("panel-migrate-")
    ]
    assert len(migrations) == 1, migrations
    cluster.kubectl(
        "wait", "--namespace", namespace, "--for=condition=Complete", f"job/{migrations[0]}", "--timeout=120s"
    )
    assert not cluster.get("statefulset", "-n", namespace)["items"], "production uses external datastores"
    managed = {
        obj["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        for obj in cluster.get("deployment,cronjob,service", "-n", namespace)["items"]
    }
    assert managed == {"kustomize"}
    cluster.kubectl("delete", "-k", str(directory), "--wait=false")


def extra_crds() -> list[Path]:
    """HTTPRoute and ScaledObject CRDs from the same Go modules ci/tools.sh converts for kubeconform."""
    gateway = _go_module_dir("sigs.k8s.io/gateway-api", _pinned("GATEWAY_API_VERSION"))
    keda = _go_module_dir("github.com/kedacore/keda/v2", _pinned("KEDA_VERSION"))
    return [
        gateway / "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
        keda / "config/crd/bases/keda.sh_scaledobjects.yaml",
    ]


@pytest.fixture(scope="module")
def extra_crds_installed(cluster: Cluster) -> Iterator[list[str]]:
    """The extra CRDs, for this module only: other tests see the cluster as before (with KEDA installed,
    `provider: auto` would render ScaledObjects in their scenarios)."""
    files = extra_crds()
    cluster.kubectl("apply", "--server-side", *(arg for crd in files for arg in ("-f", str(crd))))
    names = [yaml.safe_load(crd.read_text())["metadata"]["name"] for crd in files]
    cluster.kubectl(
        "wait", "--for=condition=Established", *(f"crd/{name}" for name in names), "--timeout=60s"
    )
    # Discovery lags the Established condition a little; Helm's capabilities come from discovery.
    wait_until(lambda: "ScaledObject" in cluster.kubectl("api-resources", "--api-group=keda.sh").stdout)
    try:
        yield names
    finally:
        cluster.kubectl("delete", "crd", *names, "--wait=true", check=False)


def test_the_crd_extras_scenario_passes_a_server_side_dry_run(
    cluster: Cluster, helm: str, namespace: str, extra_crds_installed: list[str]
) -> None:
    manifests = helm_dry_run(cluster, helm, "panel", namespace, "-f", EXTRA_SCENARIO)
    kinds = {obj["kind"] for obj in manifest_objects(manifests)}
    assert {"HTTPRoute", "ScaledObject"} <= kinds and "HorizontalPodAutoscaler" in kinds, kinds
    server_side_dry_run(cluster, namespace, manifests)


def test_auto_picks_keda_when_the_cluster_has_it(
    cluster: Cluster, helm: str, namespace: str, extra_crds_installed: list[str]
) -> None:
    # Helm reads the cluster's API versions: `provider: auto` turns into a ScaledObject, and no worker HPA.
    settings = ("--set", "worker.autoscaling.queueLength.provider=auto")
    manifests = helm_dry_run(cluster, helm, "panel", namespace, "-f", EXTRA_SCENARIO, *settings)
    objects = manifest_objects(manifests)
    assert [obj["metadata"]["name"] for obj in objects if obj["kind"] == "ScaledObject"] == ["panel-worker"]
    hpas = [obj["metadata"]["name"] for obj in objects if obj["kind"] == "HorizontalPodAutoscaler"]
    assert hpas == ["panel-web"], hpas
