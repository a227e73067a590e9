"""The real-node tier's parts: the images on the node, a Helm release under test, clients that run as pods,
the S3 and Prometheus servers on the node network, and what is printed when something fails.

The node itself (kubelet, containerd, kube-proxy, CoreDNS, metrics-server, kube-router in a private network
namespace) is ci/cluster/node_cluster.py; everything here talks to it through NodeCluster.run, i.e. inside
that namespace, where the only addresses are the node's (10.245.0.1) and the pods'.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from e2e_cluster import REPO_ROOT, CommandFailed, claims_of, manifest_objects, run

sys.path.insert(0, str(REPO_ROOT / "ci" / "cluster"))

from node_cluster import NodeCluster
from node_config import NODE_IP

VERSION = re.search(r'^version = "(.+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]
REGISTRY = "ghcr.io/panel-project"
APP_IMAGES = {name: f"{REGISTRY}/{name}:{VERSION}" for name in ("panel", "backup", "healthcheck", "loadtest")}
STANDIN_IMAGES = ("localhost/panel-node/postgres:17", "localhost/panel-node/redis:7")
# The panel image plus one additive migration: what an upgrade that migrates looks like.
MIGRATION_TAG = f"{VERSION}-e2e-migration"
MIGRATION_IMAGE = f"{REGISTRY}/panel:{MIGRATION_TAG}"
NODE_VALUES = Path(__file__).resolve().parent / "values" / "node.yaml"
CLIENTS = Path(__file__).resolve().parent / "clients"
RELEASE = "panel"
S3_PORT = 9000
S3_BUCKET = "panel-backups"
PROMETHEUS_PORT = 9090
ENDED = {"Complete", "Failed"}  # the Job conditions that end it
# As ci/images.sh: runc (crun refuses hybrid cgroups) and limits an unprivileged container may set here.
PODMAN_RUNTIME = ("--runtime", "runc", "--ulimit", "nofile=1024:20000", "--ulimit", "nproc=4096:4096")
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 1) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# ------------------------------------------------------------------------------------------ images


MIGRATION = '''\
"""e2e: one additive migration on top of the image's head (tests/e2e/node_tier.py builds it in)."""

import sqlalchemy as sa
from alembic import op

revision = "e2e1"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("e2e_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("servers", "e2e_note")
'''


def build_images() -> list[str]:
    """Every image the node needs, in podman: ci/images.sh (cached layers make it quick when nothing
    changed; PANEL_IMAGES_PREBUILT=1 skips it) and the migration image built on the panel image."""
    if os.environ.get("PANEL_IMAGES_PREBUILT") != "1":
        names = [*APP_IMAGES, "node-postgres", "node-redis"]
        run(["bash", REPO_ROOT / "ci/images.sh", *names], timeout=3600)
    build_migration_image()
    return [*APP_IMAGES.values(), *STANDIN_IMAGES, MIGRATION_IMAGE]


def build_migration_image() -> None:
    base = APP_IMAGES["panel"]
    probe = (
        "import os, panel; from panel.schema import head_revision;"
        " print(os.path.dirname(panel.__file__), head_revision())"
    )
    package_dir, head = run(
        ["podman", "run", "--rm", *PODMAN_RUNTIME, "--entrypoint", "python", base, "-c", probe]
    ).stdout.split()
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "e2e1_additive.py").write_text(MIGRATION.format(head=head))
        (Path(context) / "Containerfile").write_text(
            f"FROM {base}\nCOPY e2e1_additive.py {package_dir}/migrations/versions/\n"
        )
        run(
            ["podman", "build", *PODMAN_RUNTIME, "--format", "docker", "-t", MIGRATION_IMAGE, context],
            timeout=600,
        )


# ----------------------------------------------------------------------------------------- release


@dataclass
class Release:
    """One Helm release of the chart in its own namespace on the node."""

    node: NodeCluster
    namespace: str
    helm: Path
    volumes_root: Path

    def helm_run(self, *args: str | Path, check: bool = True, timeout: float = 900) -> Any:
        result = self.node.run(
            [self.helm, *args, "--namespace", self.namespace], check=False, timeout=timeout
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"helm {' '.join(map(str, args))} exited {result.returncode}\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-4000:]}"
            )
        return result

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        result = self.node.run(
            [self.node.binaries.kubectl, "--namespace", self.namespace, *args], stdin=stdin, check=False
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"kubectl {' '.join(args)} exited {result.returncode}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, *objects: dict[str, Any]) -> None:
        listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(listing))

    def install(self, chart: Path, *values: str | Path, timeout: str = "10m") -> float:
        """helm install --wait --wait-for-jobs; returns the seconds it took."""
        rendered = self.helm_run("template", RELEASE, chart, *values).stdout
        self.provide_volumes(rendered)
        started = time.monotonic()
        self.helm_run("install", RELEASE, chart, *values, "--wait", "--wait-for-jobs", "--timeout", timeout)
        return time.monotonic() - started

    def upgrade(self, chart: Path, *values: str | Path, timeout: str = "10m") -> None:
        self.helm_run("upgrade", RELEASE, chart, *values, "--wait", "--wait-for-jobs", "--timeout", timeout)

    def provide_volumes(self, manifest: str) -> None:
        """hostPath PersistentVolumes bound by claimRef to the claims the manifest makes (no provisioner).
        On a real node the directory is mounted: it is made here, owned by the chart's uid 10001, mode
        0700 (fsGroup does not apply to hostPath volumes, and PostgreSQL insists on owning its data)."""
        volumes = []
        for claim in claims_of(manifest_objects(manifest)):
            name = f"{self.namespace}-{claim['name']}"[:253]
            path = self.volumes_root / name
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, 10001, 10001)
            path.chmod(0o700)
            volumes.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": name, "labels": {"panel-e2e/namespace": self.namespace}},
                    "spec": {
                        "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                        "accessModes": claim["spec"]["accessModes"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": claim["spec"].get("storageClassName", ""),
                        "claimRef": {"namespace": self.namespace, "name": claim["name"]},
                        "hostPath": {"path": str(path), "type": "Directory"},
                    },
                }
            )
        if volumes:
            self.apply(*volumes)

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        args = ("pod", "-l", selector) if selector else ("pod",)
        return [p for p in self.get(*args)["items"] if not p["metadata"].get("deletionTimestamp")]

    def exec(self, target: str, *command: str, stdin: str | None = None, check: bool = True) -> Any:
        return self.kubectl(
            "exec", "-i" if stdin is not None else "-q", target, "--", *command, stdin=stdin, check=check
        )

    def start_client(
        self,
        name: str,
        client: str,
        *,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        image: str = APP_IMAGES["healthcheck"],
    ) -> None:
        """Starts tests/e2e/clients/<client>.py as a pod (restricted, like the chart's pods; a small /tmp)."""
        script = (CLIENTS / f"{client}.py").read_text()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": RESTRICTED_POD,
                "containers": [
                    {
                        "name": "client",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "command": ["python", "-c", script],
                        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                        "securityContext": RESTRICTED_CONTAINER,
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "32Mi"},
                            "limits": {"cpu": "500m", "memory": "128Mi"},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
            },
        }
        self.apply(pod)

    def wait_job(self, name: str, timeout: float) -> str:
        """Waits for a Job to end; returns the condition that ended it (`Complete` or `Failed`)."""
        ended: list[str] = []

        def finished() -> bool:
            conditions = self.get("job", name).get("status", {}).get("conditions") or []
            ended.extend(
                c["type"] for c in conditions if c["type"] in {"Complete", "Failed"} and c["status"] == "True"
            )
            return bool(ended)

        if not wait_until(finished, timeout, interval=2):
            raise AssertionError(f"job {name} still running after {timeout:.0f} s:\n{self.diagnostics()}")
        return ended[0]

    def wait_for_log(self, name: str, text: str, timeout: float = 120) -> None:
        """Waits until the pod's log contains `text` (e.g. a client announcing that it is serving)."""

        def logged() -> bool:
            return text in self.kubectl("logs", name, check=False).stdout

        if not wait_until(logged, timeout):
            raise AssertionError(f"pod {name} never logged {text!r}:\n{self.diagnostics()}")

    def finish_client(self, name: str, *, stop: bool = False, timeout: float = 300) -> tuple[int, str]:
        """Waits for a client pod to exit (after telling it to stop, for the open-ended clients); returns
        its exit code and log, and deletes it."""
        if stop:
            self.exec(name, "touch", "/tmp/stop")

        def finished() -> bool:
            return self.get("pod", name).get("status", {}).get("phase") in {"Succeeded", "Failed"}

        if not wait_until(finished, timeout):
            raise AssertionError(
                f"client pod {name} did not finish in {timeout:.0f} s:\n{self.diagnostics()}"
            )
        state = self.get("pod", name)["status"]["containerStatuses"][0]["state"]["terminated"]
        logs = self.kubectl("logs", name).stdout
        self.kubectl("delete", "pod", name, "--wait=false")
        return int(state["exitCode"]), logs

    def run_client(self, name: str, client: str, **options: Any) -> tuple[int, str]:
        self.start_client(name, client, **options)
        return self.finish_client(name)

    def diagnostics(self) -> str:
        """Every pod's status, the namespace's events, and the last 50 log lines of every container that is
        not ready or exited non-zero (the current and the previous instance)."""
        lines = [f"===== diagnostics for namespace {self.namespace}"]
        lines.append(
            self.kubectl("get", "all,pvc,cronjob,job,networkpolicy,hpa", "-o", "wide", check=False).stdout
        )
        lines.append("----- events")
        events = self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)
        lines.append(events.stdout + events.stderr)
        listing = self.kubectl("get", "pod", "-o", "json", check=False)
        pods = json.loads(listing.stdout)["items"] if listing.returncode == 0 else []
        for pod in pods:
            name = pod["metadata"]["name"]
            statuses = (pod.get("status") or {}).get("initContainerStatuses", []) + (
                (pod.get("status") or {}).get("containerStatuses", [])
            )
            for status in statuses:
                terminated = status.get("state", {}).get("terminated") or {}
                failing = not status.get("ready") and terminated.get("reason") != "Completed"
                if not failing and not status.get("restartCount"):
                    continue
                lines.append(f"----- {name}/{status['name']}: {json.dumps(status.get('state'))}")
                for previous in ("--previous", None) if status.get("restartCount") else (None,):
                    args = ["logs", name, "-c", status["name"], "--tail=50"]
                    if previous:
                        args.append(previous)
                    logs = self.kubectl(*args, check=False)
                    lines.append(logs.stdout + logs.stderr)
        return "\n".join(lines)


def ready_pods(release: Release, component: str) -> list[str]:
    names = []
    for pod in release.pods(f"app.kubernetes.io/component={component}"):
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
        if conditions.get("Ready") == "True":
            names.append(pod["metadata"]["name"])
    return names


def time_to_ready(pod: dict[str, Any]) -> float | None:
    """Seconds from the pod's creation to its Ready condition (None while it is not Ready)."""
    created = _timestamp(pod["metadata"]["creationTimestamp"])
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready" and condition["status"] == "True":
            return _timestamp(condition["lastTransitionTime"]) - created
    return None


def _timestamp(value: str) -> float:
    return time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def component_labels(component: str) -> dict[str, str]:
    """The chart's selector labels of one component (client pods posing as the chart's `test` pod get
    exactly the NetworkPolicy that pod gets)."""
    return {
        "app.kubernetes.io/name": "panel",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


# --------------------------------------------------------------------------- servers on the node network


def start_s3(node: NodeCluster) -> str:
    """moto's S3 server (the project's own dev dependency) on the node IP; returns its endpoint URL."""
    moto = Path(sys.executable).parent / "moto_server"
    node.spawn("moto-s3", [moto, "-H", NODE_IP, "-p", str(S3_PORT)])
    endpoint = f"http://{NODE_IP}:{S3_PORT}"
    ok = wait_until(
        lambda: node.run(["curl", "-fsS", "-o", "/dev/null", endpoint], check=False).returncode == 0, 60
    )
    assert ok, f"moto_server did not answer on {endpoint}; see {node.logs / 'moto-s3.log'}"
    s3_call(node, f"s3.create_bucket(Bucket={S3_BUCKET!r})")
    return endpoint


def s3_call(node: NodeCluster, statement: str) -> Any:
    """Runs one boto3 statement against the node's S3 (inside the namespace) and returns its JSON result."""
    script = (
        "import boto3, json\n"
        f"s3 = boto3.client('s3', endpoint_url='http://{NODE_IP}:{S3_PORT}', region_name='us-east-1',"
        " aws_access_key_id='testing', aws_secret_access_key='testing')\n"
        f"result = {statement}\n"
        "print(json.dumps(result, default=str))\n"
    )
    return json.loads(node.run([sys.executable, "-c", script]).stdout)


def s3_keys(node: NodeCluster, prefix: str) -> list[str]:
    listing = s3_call(node, f"s3.list_objects_v2(Bucket={S3_BUCKET!r}, Prefix={prefix!r})")
    return [item["Key"] for item in listing.get("Contents", [])]


def chart_metrics_targets(release: Release) -> list[dict[str, Any]]:
    """What the chart's ServiceMonitor has the Prometheus Operator scrape, as Prometheus file_sd targets:
    every Service of the release labelled `panel.dev/metrics=true` (web-metrics, worker-metrics, the
    exporter), each endpoint on the Service port named `metrics`, read from its EndpointSlices, labelled
    with the Service and the pod. (Debian's Prometheus is built without Kubernetes discovery.)"""
    targets = []
    for service in release.get("service", "-l", "panel.dev/metrics=true")["items"]:
        name = service["metadata"]["name"]
        slices = release.get("endpointslice", "-l", f"kubernetes.io/service-name={name}")["items"]
        for endpoint_slice in slices:
            ports = [p["port"] for p in endpoint_slice.get("ports") or [] if p.get("name") == "metrics"]
            for endpoint, port in ((e, p) for e in endpoint_slice.get("endpoints") or [] for p in ports):
                pod = (endpoint.get("targetRef") or {}).get("name", "")
                targets.append(
                    {
                        "targets": [f"{address}:{port}" for address in endpoint["addresses"]],
                        "labels": {"service": name, "pod": pod},
                    }
                )
    return targets


def start_prometheus(node: NodeCluster, work: Path, targets: list[dict[str, Any]]) -> str:
    """Debian's Prometheus on the node network scraping `targets` (file_sd entries: `targets` and
    `labels`) every 2 s as job `panel`; returns its URL (reachable inside the namespace only)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "targets.json").write_text(json.dumps(targets))
    job = {"job_name": "panel", "file_sd_configs": [{"files": [str(work / "targets.json")]}]}
    config = {"global": {"scrape_interval": "2s", "scrape_timeout": "2s"}, "scrape_configs": [job]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    node.spawn(
        "prometheus",
        [
            "/usr/bin/prometheus", f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address={NODE_IP}:{PROMETHEUS_PORT}",
        ],
    )  # fmt: skip
    url = f"http://{NODE_IP}:{PROMETHEUS_PORT}"
    ok = wait_until(lambda: node.run(["curl", "-fsS", f"{url}/-/ready"], check=False).returncode == 0, 60)
    assert ok, f"Prometheus did not become ready; see {node.logs / 'prometheus.log'}"
    return url


def prometheus_query(node: NodeCluster, url: str, query: str) -> list[dict[str, Any]]:
    result = node.run(["curl", "-fsS", "--get", f"{url}/api/v1/query", "--data-urlencode", f"query={query}"])
    body = json.loads(result.stdout)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def prometheus_targets(node: NodeCluster, url: str) -> list[str]:
    """Each active target's labels, health and last scrape error (what a failed assertion shows)."""
    body = json.loads(node.run(["curl", "-fsS", f"{url}/api/v1/targets"]).stdout)
    targets = body["data"]["activeTargets"]
    return [f"{t['labels'].get('pod')} {t['scrapeUrl']}: {t['health']} {t['lastError']}" for t in targets]


def values_file(directory: Path, name: str, values: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(values))
    return path


def pod_names(pods: Sequence[dict[str, Any]]) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods]
