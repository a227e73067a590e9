"""The host side of the test node: prerequisite checks, the private network namespace, the record of what
a run started (Session), and the teardown that undoes all of it - also after a run that was killed."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from node_config import (
    CGROUP_CONTROLLERS,
    CNI_PLUGINS,
    NETNS,
    NETNS_PATH,
    NODE_DAEMONS,
    NODE_IP,
    RUN_DIR,
    SERVICE_CIDR,
)


class Unsuitable(Exception):
    """A prerequisite is missing or the host cannot run the node; the message names the fix."""


class StartFailed(Exception):
    """A component did not come up; the message names it and its log."""


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


@dataclass
class Session:
    """What a run has started so far, written to disk as it happens: a later run (or `down` after a
    kill -9) finds everything to undo in it."""

    path: Path
    pids: dict[str, int] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    control_plane_bin: str = ""
    node_bin: str = ""

    @classmethod
    def load(cls, path: Path) -> Session | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return cls(
            path=path,
            pids={str(k): int(v) for k, v in data.get("pids", {}).items()},
            sysctls={str(k): str(v) for k, v in data.get("sysctls", {}).items()},
            control_plane_bin=str(data.get("control_plane_bin", "")),
            node_bin=str(data.get("node_bin", "")),
        )

    def save(self) -> None:
        data = {
            "pids": self.pids,
            "sysctls": self.sysctls,
            "control_plane_bin": self.control_plane_bin,
            "node_bin": self.node_bin,
        }
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(self.path)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


# --------------------------------------------------------------------------------------- host checks


def sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text().strip()


def set_sysctl(name: str, value: str) -> None:
    Path("/proc/sys", *name.split(".")).write_text(value)


def check_host(control_plane: Path, node: Path) -> None:
    """One Unsuitable line per problem that would make the node fail later and less clearly."""
    if os.geteuid() != 0:
        raise Unsuitable("the node cluster needs root (network namespace, mounts, cgroups); fix: run as root")
    for tool in ("nsenter", "ip", "iptables", "ipset", "curl", "podman", "tar"):
        if shutil.which(tool) is None:
            raise Unsuitable(f"`{tool}` is not installed; fix: `bash ci/cluster/node-tools.sh` installs it")
    if not Path("/usr/sbin/runc").exists():
        raise Unsuitable("/usr/sbin/runc is missing; fix: `apt-get install runc` (node-tools.sh does)")
    for plugin in CNI_PLUGINS:
        if not Path("/usr/lib/cni", plugin).exists():
            raise Unsuitable(
                f"CNI plugin /usr/lib/cni/{plugin} is missing; "
                "fix: `apt-get install containernetworking-plugins`"
            )
    for directory, names in (
        (control_plane, ("kwokctl", "kube-apiserver", "etcd", "kubelet", "kube-proxy")),
        (node, ("containerd", "containerd-shim-runc-v2", "ctr", "crictl", "coredns", "pause")),
    ):
        for name in names:
            if not os.access(directory / name, os.X_OK):
                raise Unsuitable(f"{directory / name} is missing; fix: `make cluster-up` builds it")
    mounted = _cgroup_v1_controllers()
    enabled = {
        line.split()[0]
        for line in Path("/proc/cgroups").read_text().splitlines()[1:]
        if line.split()[3] == "1"
    }
    for controller in CGROUP_CONTROLLERS:
        if controller not in enabled or (mounted and controller not in mounted):
            raise Unsuitable(
                f"cgroup controller `{controller}` is not available; fix: mount it under /sys/fs/cgroup "
                "(the kubelet needs cpu, cpuacct, cpuset, memory and pids)"
            )
    swaps = Path("/proc/swaps").read_text().splitlines()[1:]
    if swaps:
        raise Unsuitable("swap is on and the kubelet refuses it (failSwapOn); fix: `swapoff -a`")


def _cgroup_v1_controllers() -> set[str]:
    controllers: set[str] = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup":
            controllers |= set(fields[3].split(","))
    return controllers


# ------------------------------------------------------------------------------- namespace, teardown


def create_netns() -> None:
    """The node's "host network": lo and the bridge cni0 carrying the node IP, a route for ClusterIPs
    (locally generated traffic - probes, kubectl, CoreDNS - needs one for kube-proxy's OUTPUT DNAT), and
    ip_forward on in this namespace only."""
    subprocess.run(["ip", "netns", "add", NETNS], check=True, capture_output=True)

    def ip(*args: str) -> None:
        subprocess.run(["nsenter", f"--net={NETNS_PATH}", "ip", *args], check=True, capture_output=True)

    ip("link", "set", "lo", "up")
    ip("link", "add", "cni0", "type", "bridge")
    ip("addr", "add", f"{NODE_IP}/24", "dev", "cni0")
    ip("link", "set", "cni0", "up")
    ip("route", "replace", SERVICE_CIDR, "dev", "cni0", "src", NODE_IP)
    subprocess.run(
        ["nsenter", f"--net={NETNS_PATH}", "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        check=True,
        capture_output=True,
    )


def _netns_inode() -> int | None:
    try:
        return NETNS_PATH.stat().st_ino
    except FileNotFoundError:
        return None


def _processes_in_netns(inode: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "ns" / "net").stat().st_ino == inode:
                pids.append(int(entry.name))
    return pids


def _processes_in_pod_cgroups() -> list[int]:
    """Every process in the kubelet's pod cgroups (containers whose shim outlived containerd)."""
    pids: set[int] = set()
    for procs in Path("/sys/fs/cgroup/pids/kubepods").rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids |= {int(pid) for pid in procs.read_text().split()}
    return sorted(pids)


def _processes_using(paths: Sequence[Path]) -> list[int]:
    """Processes whose command line names one of our directories (e.g. containerd shims)."""
    needles = [str(path).encode() for path in paths]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if any(needle in cmdline for needle in needles):
                pids.append(int(entry.name))
    return pids


def terminate(pids: Sequence[int], grace: float = 20) -> None:
    """SIGTERM, then SIGKILL whatever is left after `grace` seconds; only the given pids."""
    alive = [pid for pid in pids if pid_alive(pid)]
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not any(pid_alive(pid) for pid in alive), grace, 0.2)
    for pid in alive:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(pid) for pid in alive), 10, 0.2)


def teardown(state: Path, session: Session) -> None:
    """Undo everything a run did, whatever state it reached; safe to run twice. Errors in one step do
    not stop the next: the namespace, mounts and sysctls are always attempted."""
    problems: list[str] = []

    def step(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:  # teardown goes on; the problem is reported at the end
            problems.append(f"{what}: {error}")

    node_bin = Path(session.node_bin) if session.node_bin else None
    cp_bin = Path(session.control_plane_bin) if session.control_plane_bin else None
    step("node daemons", lambda: terminate([session.pids[n] for n in NODE_DAEMONS if n in session.pids]))
    socket = RUN_DIR / "containerd" / "containerd.sock"
    if node_bin is not None and socket.is_socket() and pid_alive(session.pids.get("containerd", -1)):
        # The CRI removes each pod's sandbox: its network (veth, IPAM lease) and mounts go with it.
        crictl = [str(node_bin / "crictl"), "--runtime-endpoint", f"unix://{socket}", "--timeout", "30s"]
        step(
            "pods",
            lambda: subprocess.run(
                [*crictl, "rmp", "--all", "--force"], capture_output=True, timeout=180, check=False
            ),
        )
    step(
        "containerd", lambda: terminate([session.pids["containerd"]] if "containerd" in session.pids else [])
    )
    if cp_bin is not None and (state / "kwok" / "clusters" / NETNS).exists():
        env = {**os.environ, "KWOK_WORKDIR": str(state / "kwok"), "KUBECONFIG": str(state / "kubeconfig")}
        step(
            "control plane",
            lambda: subprocess.run(
                [str(cp_bin / "kwokctl"), "delete", "cluster", "--name", NETNS],
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            ),
        )
    # kwokctl returns before its components have exited; the recorded pids are waited for (or killed).
    step(
        "control plane processes",
        lambda: terminate([p for n, p in session.pids.items() if n.startswith("control")]),
    )
    step("every other process we started", lambda: terminate([p for p in session.pids.values()]))
    inode = _netns_inode()
    if inode is not None:
        step("processes left in the namespace", lambda: terminate(_processes_in_netns(inode), grace=5))
    step("containers left by a dead containerd", lambda: terminate(_processes_in_pod_cgroups(), grace=5))
    step("shims", lambda: terminate(_processes_using([RUN_DIR, state / "containerd"]), grace=5))
    step("mounts", lambda: unmount_under([state, RUN_DIR]))
    if inode is not None:
        step(
            "namespace",
            lambda: subprocess.run(["ip", "netns", "del", NETNS], check=True, capture_output=True),
        )
    for name, value in session.sysctls.items():
        step(f"sysctl {name}", functools.partial(set_sysctl, name, value))
    step("pod cgroups", remove_pod_cgroups)
    step("container log links", lambda: remove_links_into(Path("/var/log/containers"), state))
    # Kubelet and cluster state are per run; containerd's store (the imported images) is kept.
    for transient in ("kubelet", "pod-logs", "kwok", "volumes", "metrics-server", "cni", "home"):
        step(f"remove {transient}", functools.partial(shutil.rmtree, state / transient, ignore_errors=True))
    step("remove run dir", lambda: shutil.rmtree(RUN_DIR, ignore_errors=True))
    if not problems:
        session.path.unlink(missing_ok=True)
        log("node cluster down: namespace, processes, mounts and sysctls restored")
    else:
        # The session stays on disk so that the next start or `down` tries again.
        raise StartFailed("teardown incomplete: " + "; ".join(problems))


def unmount_under(roots: Sequence[Path]) -> None:
    prefixes = tuple(f"{root}/" for root in roots)
    targets = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(prefixes) or target in {str(root) for root in roots}:
            targets.append(target)
    for target in sorted(targets, key=len, reverse=True):
        result = subprocess.run(["umount", target], capture_output=True, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "--lazy", target], capture_output=True, check=False)


def remove_pod_cgroups() -> None:
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        pods = hierarchy / "kubepods"
        if not pods.is_dir():
            continue
        for directory in sorted(
            (p for p in pods.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            pods.rmdir()


def remove_links_into(directory: Path, target: Path) -> None:
    if not directory.is_dir():
        return
    for link in directory.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(f"{target}/"):
            link.unlink()
