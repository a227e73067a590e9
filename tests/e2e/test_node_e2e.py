"""The chart on a REAL node (kubelet + containerd + kube-proxy + CoreDNS + metrics-server + kube-router, in a
private network namespace; ci/cluster/node_cluster.py): containers start from our images, probes run, Services
route, NetworkPolicies are enforced. Helm 3 installs once on its own first; then one release (Helm 4, the
chart's defaults) serves the tests of this module, in order.

Every client is a pod in the cluster (restricted, like the chart's own; tests/e2e/clients/), every server it
talks to is real: the node's S3 (moto) and Prometheus run on the node network. A failing test prints every
pod's status, the namespace's events and the last 50 log lines of each failing container.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
from e2e_cluster import CHART_DIR, SCENARIO_DIR, Toolchain
from node_cluster import NodeCluster
from node_tier import (
    CLIENTS,
    MIGRATION_TAG,
    NODE_VALUES,
    RELEASE,
    S3_BUCKET,
    VERSION,
    Release,
    chart_metrics_targets,
    component_labels,
    prometheus_query,
    prometheus_targets,
    ready_pods,
    s3_keys,
    start_prometheus,
    time_to_ready,
    values_file,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(900)]

DEFAULTS = SCENARIO_DIR / "defaults-values.yaml"
ADMIN = "admin"
TEST_CLIENT = component_labels("test")
WEB_URL = f"http://{RELEASE}-web"  # the Service port (80), not the container port


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """What the defaults scenario fakes, made real: an age key pair the restore drill can decrypt with, S3
    keys for the node's S3, and the admin password (the load test signs in with it).
    Returns (values file, admin password)."""
    identity = pyrage.x25519.Identity.generate()
    password = secrets.token_urlsafe(18)
    values = {
        "secrets": {
            "backupEncryption": {"recipients": str(identity.to_public()), "identity": str(identity)},
            "s3": {"accessKeyId": "testing", "secretAccessKey": "testing"},
            "loadtest": {"password": password},
        },
        "backup": {"jobs": {"drill": {"enabled": True}}},
    }
    return values_file(tmp_path_factory.mktemp("values"), "credentials.yaml", values), password


def chart_values(credentials: tuple[Path, str], *scenarios: Path) -> tuple[str | Path, ...]:
    """-f arguments: the defaults scenario, the node's values, other scenarios, and the real credentials
    last (scenarios carry placeholder ones)."""
    files = (DEFAULTS, NODE_VALUES, *scenarios, credentials[0])
    return tuple(arg for path in files for arg in ("-f", path))


def restricted_namespace(name: str) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_helm3_installs_and_its_test_passes(
    node: NodeCluster, toolchain: Toolchain, node_namespace: str, credentials: tuple[Path, str], node_s3: str
) -> None:
    release = Release(node, node_namespace, toolchain.helm["helm3"], node.state / "volumes")
    seconds = release.install(CHART_DIR, *chart_values(credentials))
    print(f"\nhelm install (Helm 3, defaults): {seconds:.0f} s")
    release.helm_run("test", RELEASE, "--timeout", "5m")
    release.helm_run("uninstall", RELEASE, "--wait", "--timeout", "5m")


@pytest.fixture(scope="module")
def release(
    node: NodeCluster, toolchain: Toolchain, node_s3: str, credentials: tuple[Path, str]
) -> Iterator[Release]:
    namespace = "panel-node"
    node.kubectl("create", "-f", "-", stdin=json.dumps(restricted_namespace(namespace)))
    installed = Release(node, namespace, toolchain.helm["helm4"], node.state / "volumes")
    try:
        seconds = installed.install(CHART_DIR, *chart_values(credentials))
    except Exception:
        print(installed.diagnostics())
        raise
    print(f"\nhelm install --wait --wait-for-jobs (Helm 4, defaults): {seconds:.0f} s")
    for pod in installed.pods():
        ready = time_to_ready(pod)
        if ready is not None:
            print(f"  {pod['metadata']['name']:45} Ready {ready:4.0f} s after it was created")
    yield installed
    installed.helm_run("uninstall", RELEASE, "--wait", "--timeout", "5m", check=False)
    node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(autouse=True)
def diagnostics_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "e2e_report_call", None)
    if report is not None and report.failed and "release" in request.fixturenames:
        print(request.getfixturevalue("release").diagnostics())


def test_every_pod_ready_by_its_own_probes(release: Release) -> None:
    for component in ("web", "worker", "database", "redis", "healthcheck"):
        assert ready_pods(release, component), f"no Ready {component} pod"
    assert len(ready_pods(release, "web")) >= 3, "the HPA's minimum of web pods is not Ready"
    jobs = [
        job for job in release.get("job")["items"] if job["metadata"]["name"].startswith(f"{RELEASE}-migrate")
    ]
    assert len(jobs) == 1 and jobs[0]["status"].get("succeeded") == 1, [job["status"] for job in jobs]
    # Its first attempt succeeds: the database's name resolves before its pod is Ready (it used to fail on
    # "could not translate host name" and only the retry migrated).
    assert not jobs[0]["status"].get("failed"), jobs[0]["status"]
    # Every web and worker pod really waited for the schema: its init container ran and exited 0.
    for pod in release.pods("app.kubernetes.io/component in (web,worker)"):
        (wait,) = [s for s in pod["status"]["initContainerStatuses"] if s["name"] == "wait-for-schema"]
        assert wait["state"]["terminated"]["exitCode"] == 0, wait


def test_dns_names_resolve_from_pods(release: Release) -> None:
    names = [
        f"{RELEASE}-web",
        f"{RELEASE}-web.{release.namespace}.svc.cluster.local",
        f"{RELEASE}-database",
        "kubernetes.default.svc.cluster.local",
    ]
    code, logs = release.run_client(
        "dns-check", "dns_check", env={"NAMES": ",".join(names)}, labels=TEST_CLIENT
    )
    assert code == 0, logs
    assert len(logs.splitlines()) == len(names), logs


def test_login_token_create_and_list_through_the_web_service(
    release: Release, credentials: tuple[Path, str]
) -> None:
    password = credentials[1]
    create_admin = (
        "cat > /tmp/admin-password"
        f" && panel create-admin --username {ADMIN} --password-file /tmp/admin-password --if-missing;"
        " status=$?; rm -f /tmp/admin-password; exit $status"
    )
    release.exec(f"deploy/{RELEASE}-web", "sh", "-c", create_admin, stdin=password + "\n")
    env = {"BASE_URL": WEB_URL, "ADMIN": ADMIN, "PASSWORD": password}
    code, logs = release.run_client("http-check", "http_check", env=env, labels=TEST_CLIENT)
    assert code == 0, logs


def test_helm_test_does_real_http(release: Release) -> None:
    release.helm_run("test", RELEASE, "--timeout", "5m")


def test_manual_backup_lands_in_s3_and_the_drill_restores_it(release: Release) -> None:
    release.kubectl("create", "job", f"--from=cronjob/{RELEASE}-backup-database", "manual-1")
    release.kubectl("wait", "--for=condition=Complete", "job/manual-1", "--timeout=300s")
    keys = s3_keys(release.node, "panel/database/")
    assert any(key.endswith(".age") for key in keys), f"no database backup in s3://{S3_BUCKET}: {keys}"
    release.kubectl("create", "job", f"--from=cronjob/{RELEASE}-backup-drill", "drill-1")
    release.kubectl("wait", "--for=condition=Complete", "job/drill-1", "--timeout=300s")


def test_prometheus_scrapes_and_sees_postgres_fail_and_heal(release: Release, tmp_path: Path) -> None:
    # The targets the chart's ServiceMonitor selects: the `metrics` port of every web and worker pod
    # (contract C2: never the app port), through the `*-metrics` Services, and the exporter's.
    prometheus = start_prometheus(release.node, tmp_path / "prometheus", chart_metrics_targets(release))

    def query(promql: str) -> dict[str, str]:
        results = prometheus_query(release.node, prometheus, promql)
        return {
            f"{r['metric'].get('service')}/{r['metric'].get('pod')}:{r['metric']['__name__']}": r["value"][1]
            for r in results
        }

    expected = {
        f"{RELEASE}-web-metrics": len(ready_pods(release, "web")),
        f"{RELEASE}-worker-metrics": len(ready_pods(release, "worker")),
        f"{RELEASE}-healthcheck": 1,
    }

    health_checks = '{__name__=~"panel_health_.*_up"}'
    # The node has no ingress: the public URL's certificate (https://panel.example.com, the chart's default
    # ingress host) cannot be reached, and the exporter says so. Every other check is up.
    unreachable = "panel_health_tls_up"

    def everything_up() -> bool:
        ups = prometheus_query(release.node, prometheus, "up")
        per_service = Counter(r["metric"].get("service") for r in ups if r["value"][1] == "1")
        checks = {key.rsplit(":", 1)[1]: value for key, value in query(health_checks).items()}
        others = {value for name, value in checks.items() if name != unreachable}
        return per_service == expected and checks.get(unreachable) == "0" and others == {"1"}

    assert wait_until(everything_up, 120), (
        f"expected up targets {expected}; targets {prometheus_targets(release.node, prometheus)}; "
        f"checks {query(health_checks)}"
    )
    # The worker's own numbers arrive (its round-duration histogram once lived in a deleted file).
    worker_rounds = query(f'panel_check_round_duration_seconds_count{{service="{RELEASE}-worker-metrics"}}')
    assert worker_rounds, query(f'{{service="{RELEASE}-worker-metrics"}}')

    def postgres_up() -> str:
        return next(iter(query("panel_health_postgres_up").values()), "")

    release.kubectl("delete", "pod", f"{RELEASE}-database-0", "--wait=false")
    assert wait_until(lambda: postgres_up() == "0", 120), "the exporter never reported PostgreSQL down"
    # The StatefulSet recreates the pod on the same claim; the exporter sees it come back.
    assert wait_until(lambda: postgres_up() == "1", 300), "PostgreSQL never came back up"
    release.kubectl("wait", "--for=condition=Ready", f"pod/{RELEASE}-database-0", "--timeout=120s")


def test_network_policies_are_enforced(release: Release) -> None:
    stores = {"TARGETS": f"{RELEASE}-database:5432,{RELEASE}-redis:6379"}
    code, logs = release.run_client("no-labels", "reach_stores", env=stores)
    assert code == 3 and "open" not in logs, f"a pod without the chart's labels reached a data store: {logs}"
    script = (CLIENTS / "reach_stores.py").read_text()
    for target in (f"deploy/{RELEASE}-web", f"deploy/{RELEASE}-worker"):
        allowed = release.exec(
            target, "env", f"TARGETS={stores['TARGETS']}", "python", "-c", script, check=False
        )
        assert allowed.returncode == 0, (
            f"{target} cannot reach its data stores: {allowed.stdout}{allowed.stderr}"
        )
    # The backup Jobs reach PostgreSQL: test_manual_backup_lands_in_s3_and_the_drill_restores_it.


def test_a_deleted_web_pod_is_replaced_while_the_others_serve(release: Release) -> None:
    before = ready_pods(release, "web")
    release.start_client(
        "traffic-delete", "steady_traffic", env={"URL": f"{WEB_URL}/login"}, labels=TEST_CLIENT
    )
    release.wait_for_log("traffic-delete", "serving")
    release.kubectl("delete", "pod", before[0], "--wait=false")
    assert wait_until(lambda: before[0] not in ready_pods(release, "web"), 60)
    assert wait_until(lambda: len(ready_pods(release, "web")) >= len(before), 180), (
        "no replacement became Ready"
    )
    code, logs = release.finish_client("traffic-delete", stop=True)
    assert code == 0, f"requests failed while a web pod was replaced:\n{logs}"


def test_in_cluster_locust_passes_smoke_slos_and_fails_an_impossible_one(
    release: Release, credentials: tuple[Path, str]
) -> None:
    scenario = SCENARIO_DIR / "loadtest-values.yaml"
    loadtest = ("--set", "loadtest.scheduled.enabled=true")
    release.upgrade(CHART_DIR, *chart_values(credentials, scenario), *loadtest)
    release.kubectl("create", "job", f"--from=cronjob/{RELEASE}-loadtest", "locust-smoke")
    assert release.wait_job("locust-smoke", 600) == "Complete", release.kubectl(
        "logs", "job/locust-smoke"
    ).stdout

    impossible = (
        "--set",
        "loadtest.extraEnv[0].name=LOADTEST_MAX_P95_MS",
        "--set-string",
        "loadtest.extraEnv[0].value=0.001",
    )
    release.upgrade(CHART_DIR, *chart_values(credentials, scenario), *loadtest, *impossible)
    release.kubectl("create", "job", f"--from=cronjob/{RELEASE}-loadtest", "locust-impossible")
    assert release.wait_job("locust-impossible", 600) == "Failed"
    (pod,) = release.pods("job-name=locust-impossible")[:1]
    exit_code = pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
    assert exit_code == 99, release.kubectl("logs", pod["metadata"]["name"], "--tail=50").stdout


def test_hpa_scales_web_up_under_load_and_back_down(release: Release, credentials: tuple[Path, str]) -> None:
    # The chart's default scale-down waits 5 minutes; the test shortens only that, not the targets.
    fast_down = {
        "web": {
            "autoscaling": {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": 20,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                    },
                }
            }
        }
    }
    values = values_file(release.node.state, "hpa-fast-down.yaml", fast_down)
    release.upgrade(CHART_DIR, *chart_values(credentials), "-f", values)
    hpa = f"{RELEASE}-web"
    minimum = release.get("hpa", hpa)["spec"]["minReplicas"]

    def replicas() -> int:
        return int(release.get("hpa", hpa).get("status", {}).get("desiredReplicas", 0))

    # At rest the HPA keeps the minimum (with the chart's old memory target, idle web pods at 83% of their
    # memory request made it add a pod at rest and never remove it).
    assert wait_until(lambda: replicas() == minimum, 180, interval=5), f"web at rest: {replicas()} replicas"
    env = {"BASE_URL": WEB_URL, "ADMIN": ADMIN, "PASSWORD": credentials[1], "THREADS": "8"}
    release.start_client("cpu-load", "cpu_load", env=env, labels=TEST_CLIENT)
    scaled_up = wait_until(lambda: replicas() > minimum, 300, interval=5)
    peak = replicas()
    _, load_log = release.finish_client("cpu-load", stop=True)
    assert scaled_up, (
        f"the HPA never scaled web above {minimum}: {release.get('hpa', hpa)['status']}; load {load_log}"
    )
    assert wait_until(lambda: replicas() == minimum, 300, interval=5), (
        f"web stayed at {replicas()} (peak {peak})"
    )


@contextlib.contextmanager
def ready_endpoint_samples(release: Release, service: str) -> Iterator[list[int]]:
    """Counts the Service's ready endpoints about once a second while the block runs."""
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                slices = release.get("endpointslice", "-l", f"kubernetes.io/service-name={service}")["items"]
                endpoints = [e for s in slices for e in s.get("endpoints") or []]
                samples.append(sum(1 for e in endpoints if (e.get("conditions") or {}).get("ready")))
            stop.wait(1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()


def web_images(release: Release) -> set[str]:
    return {pod["spec"]["containers"][0]["image"] for pod in release.pods("app.kubernetes.io/component=web")}


def test_zero_downtime_upgrade_with_a_migration_then_rollback(
    release: Release, credentials: tuple[Path, str]
) -> None:
    web = f"{RELEASE}-web"
    minimum = release.get("hpa", web)["spec"]["minReplicas"]
    previous = json.loads(release.helm_run("history", RELEASE, "-o", "json").stdout)[-1]["revision"]
    release.start_client(
        "traffic-upgrade", "steady_traffic", env={"URL": f"{WEB_URL}/login"}, labels=TEST_CLIENT
    )
    time.sleep(3)

    # 1. A new image tag with one more (additive) migration: old pods serve until the new ones are Ready.
    with ready_endpoint_samples(release, web) as during_upgrade:
        release.upgrade(CHART_DIR, *chart_values(credentials), "--set", f"image.tag={MIGRATION_TAG}")
    assert web_images(release) == {f"ghcr.io/panel-project/panel:{MIGRATION_TAG}"}
    assert during_upgrade and min(during_upgrade) >= minimum, f"ready web endpoints fell: {during_upgrade}"

    # 2. Back to the previous revision: the old image serves against the newer schema.
    with ready_endpoint_samples(release, web) as during_rollback:
        release.helm_run("rollback", RELEASE, str(previous), "--wait", "--wait-for-jobs", "--timeout", "10m")
    assert wait_until(lambda: web_images(release) == {f"ghcr.io/panel-project/panel:{VERSION}"}, 180)
    assert during_rollback and min(during_rollback) >= minimum, f"ready web endpoints fell: {during_rollback}"
    code, logs = release.finish_client("traffic-upgrade", stop=True)
    assert code == 0, f"requests failed during the upgrade or the rollback:\n{logs}"
