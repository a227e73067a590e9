"""The chart on a real control plane (kube-apiserver 1.36 + etcd + controllers, kwok for nodes), with Helm 4
and Helm 3: server-side dry runs, install under Pod Security `restricted`, helm test, a manual backup,
upgrade from the previous chart release (ci/chart/releases), rollback and uninstall.

No kubelet runs: kwok marks pods Ready and Job pods Succeeded without running any container, so these
tests prove what the API server, admission and the controllers decide - never what the images do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_cluster import (
    CHART_DIR,
    HELM_TIMEOUT,
    SCENARIO_DIR,
    Cluster,
    claims_of,
    export_chart,
    listening_sockets,
    manifest_objects,
    provide_volumes,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RELEASE = "panel"
INSTALL_VALUES = SCENARIO_DIR / "defaults-values.yaml"
WAIT = ("--wait", "--wait-for-jobs", "--timeout", HELM_TIMEOUT)
# What the upgrade changes: the app image (web, worker, migrate), a replica count and a config value.
UPGRADE_SETTINGS = (
    "--set",
    "image.tag=0.2.0",
    "--set",
    "worker.replicaCount=2",
    "--set",
    "config.logLevel=DEBUG",
)
# A change that concerns the health exporter only.
EXPORTER_ONLY_SETTINGS = ("--set", "healthcheck.config.default_timeout_seconds=7")
# Objects every namespace has, not the chart's.
NAMESPACE_DEFAULTS = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def scenario_files() -> list[Path]:
    files = sorted(SCENARIO_DIR.glob("*-values.yaml"))
    assert files, f"no scenarios in {SCENARIO_DIR}"
    return files


def render(cluster: Cluster, helm: str, chart: Path, namespace: str, *values: str | Path) -> str:
    return cluster.helm(helm, "template", RELEASE, chart, "--namespace", namespace, *values).stdout


def install(cluster: Cluster, helm: str, chart: Path, namespace: str, *values: str | Path) -> None:
    provide_volumes(cluster, namespace, render(cluster, helm, chart, namespace, *values))
    cluster.helm(helm, "install", RELEASE, chart, "--namespace", namespace, *values, *WAIT)


def upgrade(cluster: Cluster, helm: str, chart: Path, namespace: str, *values: str | Path) -> None:
    provide_volumes(cluster, namespace, render(cluster, helm, chart, namespace, *values))
    cluster.helm(helm, "upgrade", RELEASE, chart, "--namespace", namespace, *values, *WAIT)


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(ref["uid"] == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences", []))


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return str(cond["status"])
    return None


def rollout_state(cluster: Cluster, namespace: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Deployment -> (pod-template-hash of its newest ReplicaSet, UIDs of its running pods)."""
    deployments = cluster.get("deployment", "-n", namespace)["items"]
    replica_sets = cluster.get("replicaset", "-n", namespace)["items"]
    pods = [
        pod
        for pod in cluster.get("pod", "-n", namespace)["items"]
        if not pod["metadata"].get("deletionTimestamp")
    ]
    state = {}
    for deployment in deployments:
        own = [rs for rs in replica_sets if owned_by(rs, deployment)]
        newest = max(
            own, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        )
        uids = frozenset(pod["metadata"]["uid"] for pod in pods if any(owned_by(pod, rs) for rs in own))
        state[deployment["metadata"]["name"]] = (newest["metadata"]["labels"]["pod-template-hash"], uids)
    return state


def rolled(before: tuple[str, frozenset[str]], after: tuple[str, frozenset[str]]) -> bool:
    """A new pod template, or pods replaced (an HPA adding pods to the same template is no roll)."""
    return before[0] != after[0] or not before[1] <= after[1]


def migrate_jobs(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    jobs = cluster.get("job", "-n", namespace)["items"]
    return {
        job["metadata"]["name"]: job
        for job in jobs
        if job["metadata"]["name"].startswith(f"{RELEASE}-migrate-")
    }


def all_available(deployments: list[dict[str, Any]]) -> bool:
    return all(d["status"].get("availableReplicas", 0) == d["spec"]["replicas"] for d in deployments)


def assert_deployments_available(cluster: Cluster, namespace: str) -> None:
    # An HPA may have just raised a count that Helm's wait did not see; give the controllers that moment.
    wait_until(lambda: all_available(cluster.get("deployment", "-n", namespace)["items"]))
    deployments = cluster.get("deployment", "-n", namespace)["items"]
    assert deployments, "the release created no Deployment"
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        status = deployment["status"]
        assert condition(deployment, "Available") == "True", f"Deployment {name} is not Available: {status}"
        assert status.get("availableReplicas", 0) == deployment["spec"]["replicas"], f"{name}: {status}"


def assert_one_completed_migration(cluster: Cluster, namespace: str) -> dict[str, Any]:
    jobs = migrate_jobs(cluster, namespace)
    assert len(jobs) == 1, f"expected exactly one migration Job, found {sorted(jobs)}"
    job = next(iter(jobs.values()))
    assert condition(job, "Complete") == "True", f"migration Job did not complete: {job['status']}"
    return job


def assert_pods_wait_for_schema(cluster: Cluster, namespace: str, migrate_job: dict[str, Any]) -> None:
    """The chart's ordering: every web and worker pod starts with `panel wait-for-schema` (same image as the
    migration) and serves only after that init container has finished."""
    migrate_image = migrate_job["spec"]["template"]["spec"]["containers"][0]["image"]
    for component in ("web", "worker"):
        pods = cluster.get("pod", "-n", namespace, "-l", f"app.kubernetes.io/component={component}")["items"]
        assert pods, f"no {component} pods"
        for pod in pods:
            name = pod["metadata"]["name"]
            init = pod["spec"].get("initContainers") or []
            waits = [c for c in init if "wait-for-schema" in (c.get("args") or []) + (c.get("command") or [])]
            assert waits, f"{name} has no wait-for-schema init container: {[c['name'] for c in init]}"
            assert waits[0]["image"] == migrate_image, (
                f"{name} waits with {waits[0]['image']}, migrates {migrate_image}"
            )
            statuses = {s["name"]: s for s in pod["status"].get("initContainerStatuses") or []}
            assert "terminated" in statuses.get(waits[0]["name"], {}).get("state", {}), (
                f"{name}: {pod['status']}"
            )


def test_control_plane_is_real_and_listens_on_loopback_only(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"].startswith("v1.36."), version
    pids = cluster.component_pids()
    assert len(pids) >= 5, (
        f"expected etcd, apiserver, controller-manager, scheduler and kwok, got pids {pids}"
    )
    sockets = listening_sockets(pids)
    assert {pid for _, pid in sockets} == pids, f"every component listens somewhere: {sockets}"
    off_loopback = [(address, pid) for address, pid in sockets if not address.startswith(("127.", "[::1]:"))]
    assert not off_loopback, f"control-plane sockets reachable from outside: {off_loopback}"


def test_every_scenario_passes_a_server_side_dry_run(cluster: Cluster, helm: str, namespace: str) -> None:
    for scenario in scenario_files():
        release = scenario.name.removesuffix("-values.yaml")
        dry_run = cluster.helm(
            helm, "install", release, CHART_DIR, "--namespace", namespace, "-f", scenario,
            "--dry-run=server", "--output", "json",
        )  # fmt: skip
        rendered = json.loads(dry_run.stdout)
        manifests = [rendered["manifest"], *(hook["manifest"] for hook in rendered.get("hooks") or [])]
        # Helm's own dry run checks types; this sends every object through the API server's validation
        # and admission (Pod Security `warn` covers the pod templates of workloads).
        applied = cluster.kubectl(
            "apply", "--dry-run=server", "--namespace", namespace, "-f", "-", stdin="\n---\n".join(manifests)
        )
        warnings = [line for line in applied.stderr.splitlines() if line.startswith("Warning")]
        assert not warnings, f"{scenario.name}: the API server warns:\n" + "\n".join(warnings)
        assert applied.stdout.count("(server dry run)") == len(manifest_objects("\n---\n".join(manifests)))


def test_install_test_manual_backup_and_uninstall(cluster: Cluster, helm: str, namespace: str) -> None:
    install(cluster, helm, CHART_DIR, namespace, "-f", INSTALL_VALUES)

    assert_deployments_available(cluster, namespace)
    migration = assert_one_completed_migration(cluster, namespace)
    assert_pods_wait_for_schema(cluster, namespace, migration)

    documented = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["backup"]
    cronjobs = {
        job["metadata"]["name"]: job["spec"] for job in cluster.get("cronjob", "-n", namespace)["items"]
    }
    expected = {
        f"{RELEASE}-backup-{name}": job["schedule"]
        for name, job in documented["jobs"].items()
        if job["enabled"]
    }
    assert {name: spec["schedule"] for name, spec in cronjobs.items()} == expected
    assert {spec.get("timeZone") for spec in cronjobs.values()} == {documented["timeZone"]}

    # Exits non-zero unless the smoke-test Job completes.
    cluster.helm(helm, "test", RELEASE, "--namespace", namespace, "--timeout", HELM_TIMEOUT)

    cluster.kubectl(
        "create", "job", "--namespace", namespace, f"--from=cronjob/{RELEASE}-backup-database", "manual-1"
    )
    cluster.kubectl(
        "wait", "--namespace", namespace, "--for=condition=Complete", "job/manual-1", "--timeout=120s"
    )
    # manual-1 is ours, not the chart's: remove it before judging what uninstall leaves.
    cluster.kubectl("delete", "job", "manual-1", "--namespace", namespace, "--cascade=foreground", "--wait")

    manifest = cluster.helm(helm, "get", "manifest", RELEASE, "--namespace", namespace).stdout
    cluster.helm(helm, "uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", HELM_TIMEOUT)
    # The garbage collector removes the pods of deleted Deployments and Jobs in the background.
    wait_until(lambda: not cluster.get("pod", "-n", namespace)["items"])
    assert_only_documented_keepers_remain(cluster, namespace, manifest)


def test_scheduled_load_test_runs_by_hand_from_its_cronjob(
    cluster: Cluster, helm: str, namespace: str
) -> None:
    install(
        cluster, helm, CHART_DIR, namespace,
        "-f", SCENARIO_DIR / "loadtest-values.yaml", "--set", "loadtest.scheduled.enabled=true",
    )  # fmt: skip
    cronjob = cluster.get("cronjob", f"{RELEASE}-loadtest", "-n", namespace)
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    # The one-shot master/worker Jobs are replaced by the CronJob, not added to it.
    jobs = [job["metadata"]["name"] for job in cluster.get("job", "-n", namespace)["items"]]
    assert not [name for name in jobs if name.startswith(f"{RELEASE}-loadtest-")], jobs

    cluster.kubectl(
        "create", "job", "--namespace", namespace, f"--from=cronjob/{RELEASE}-loadtest", "loadtest-manual-1"
    )
    cluster.kubectl(
        "wait",
        "--namespace",
        namespace,
        "--for=condition=Complete",
        "job/loadtest-manual-1",
        "--timeout=120s",
    )
    cluster.kubectl("delete", "job", "loadtest-manual-1", "--namespace", namespace, "--wait")
    cluster.helm(helm, "uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", HELM_TIMEOUT)


def assert_only_documented_keepers_remain(cluster: Cluster, namespace: str, manifest: str) -> None:
    objects = manifest_objects(manifest)
    kept_claims = {
        obj["metadata"]["name"]
        for obj in objects
        if obj["kind"] == "PersistentVolumeClaim"
        and (obj["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
    }
    # StatefulSet claims outlive their StatefulSet unless its retention policy says Delete.
    for statefulset in (obj for obj in objects if obj["kind"] == "StatefulSet"):
        policy = statefulset["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted", "Retain") == "Retain":
            kept_claims |= {claim["name"] for claim in claims_of([statefulset])}
    kinds = [
        kind
        for kind in cluster.kubectl(
            "api-resources", "--verbs=list", "--namespaced", "-o", "name"
        ).stdout.split()
        if kind not in {"events", "events.events.k8s.io"}
    ]
    remaining = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in cluster.get(",".join(kinds), "-n", namespace)["items"]
    }
    expected = NAMESPACE_DEFAULTS | {("PersistentVolumeClaim", name) for name in kept_claims}
    assert remaining == expected, (
        f"left behind: {sorted(remaining - expected)}; missing: {sorted(expected - remaining)}"
    )


# Packaged chart releases; the upgrade test starts from the newest (charts/panel/CHANGELOG.md says how).
RELEASES_DIR = Path(__file__).resolve().parents[2] / "ci" / "chart" / "releases"


def previous_release() -> Path:
    archives = {
        tuple(int(part) for part in path.name.removeprefix("panel-").removesuffix(".tgz").split(".")): path
        for path in RELEASES_DIR.glob("panel-*.tgz")
    }
    assert archives, f"no packaged chart release in {RELEASES_DIR}"
    return archives[max(archives)]


@pytest.fixture
def base_chart(tmp_path: Path) -> Path:
    """The previous release's packaged chart; PANEL_E2E_BASE_COMMIT starts from a commit instead."""
    commit = os.environ.get("PANEL_E2E_BASE_COMMIT")
    return export_chart(commit, tmp_path) if commit else previous_release()


def test_upgrade_from_base_commit_then_rollback(
    cluster: Cluster, helm: str, namespace: str, base_chart: Path
) -> None:
    base_values = base_chart / "ci" / "defaults-values.yaml"
    install(
        cluster, helm, base_chart, namespace, "-f", base_values if base_values.exists() else INSTALL_VALUES
    )
    base_migration = assert_one_completed_migration(cluster, namespace)
    web, worker, exporter = (f"{RELEASE}-{component}" for component in ("web", "worker", "healthcheck"))
    minimum = cluster.get("hpa", web, "-n", namespace)["spec"]["minReplicas"]
    wait_until(lambda: cluster.get("deployment", web, "-n", namespace)["spec"].get("replicas") == minimum)
    assert_deployments_available(cluster, namespace)
    before = rollout_state(cluster, namespace)

    # 1. Base chart -> current chart, with a new image tag, more workers and a changed setting.
    upgrade(cluster, helm, CHART_DIR, namespace, "-f", INSTALL_VALUES, *UPGRADE_SETTINGS)
    assert_deployments_available(cluster, namespace)
    migration = assert_one_completed_migration(cluster, namespace)
    assert migration["metadata"]["name"] != base_migration["metadata"]["name"], (
        "the new image did not migrate"
    )
    assert migration["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0")
    assert_pods_wait_for_schema(cluster, namespace, migration)
    upgraded = rollout_state(cluster, namespace)
    for deployment in (web, worker):
        assert upgraded[deployment][0] != before[deployment][0], f"{deployment} did not roll"
        assert not upgraded[deployment][1] & before[deployment][1], (
            f"{deployment} kept pods of the old release"
        )
    # The web Deployment leaves `replicas` to its HPA: an upgrade must not reset the scaled count.
    assert cluster.get("deployment", web, "-n", namespace)["spec"]["replicas"] == minimum
    workers = cluster.get("deployment", worker, "-n", namespace)
    assert workers["spec"]["replicas"] == 2 and workers["status"]["availableReplicas"] == 2

    # 2. Only the exporter's configuration changes: the exporter rolls, web and worker keep their pods
    #    and the migration is not run again.
    upgrade(
        cluster, helm, CHART_DIR, namespace, "-f", INSTALL_VALUES, *UPGRADE_SETTINGS, *EXPORTER_ONLY_SETTINGS
    )
    assert_deployments_available(cluster, namespace)
    reconfigured = rollout_state(cluster, namespace)
    assert reconfigured[exporter][0] != upgraded[exporter][0], "the exporter ignored its new configuration"
    for deployment in (web, worker):
        assert not rolled(upgraded[deployment], reconfigured[deployment]), (
            f"{deployment} rolled without a change"
        )
    unchanged = assert_one_completed_migration(cluster, namespace)
    assert unchanged["metadata"]["uid"] == migration["metadata"]["uid"], "an unchanged image migrated again"

    # 3. Back to the previous revision (upgrade 1): the exporter rolls back, nothing else moves.
    cluster.helm(helm, "rollback", RELEASE, "--namespace", namespace, *WAIT)
    history = json.loads(
        cluster.helm(helm, "history", RELEASE, "--namespace", namespace, "-o", "json").stdout
    )
    assert history[-1]["status"] == "deployed" and history[-1]["revision"] == 4, history
    assert_deployments_available(cluster, namespace)
    rolled_back = rollout_state(cluster, namespace)
    assert rolled_back[exporter][0] == upgraded[exporter][0]
    for deployment in (web, worker):
        assert not rolled(reconfigured[deployment], rolled_back[deployment]), (
            f"{deployment} rolled back needlessly"
        )

    # 4. And to the base chart's revision: the old image and its migration come back.
    cluster.helm(helm, "rollback", RELEASE, "1", "--namespace", namespace, *WAIT)
    assert_deployments_available(cluster, namespace)
    restored = assert_one_completed_migration(cluster, namespace)
    assert restored["metadata"]["name"] == base_migration["metadata"]["name"]
    image = cluster.get("deployment", web, "-n", namespace)["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image == base_migration["spec"]["template"]["spec"]["containers"][0]["image"]
