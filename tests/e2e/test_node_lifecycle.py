"""The node cluster's own promises (ci/cluster/node_cluster.py): nothing of it listens outside its network
namespace; `down` leaves the host as it found it (no namespace, process, mount or pod cgroup; the three
sysctls the kubelet rewrites restored); a start after a killed run cleans up what that run left; and a
missing prerequisite is one line naming the fix.

Runs after test_node_e2e.py (file order) on the session's node: it stops and restarts it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_cluster import REPO_ROOT
from node_cluster import NodeCluster, StartFailed, Unsuitable
from node_config import KUBELET_SYSCTLS, NETNS, NETNS_PATH, RUN_DIR
from node_host import check_host, pid_alive, sysctl
from node_tier import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(900)]


def listening_pids(netns: Path | None = None) -> set[int]:
    """Pids owning a listening TCP or UDP socket in the host's network namespace (or in `netns`)."""
    command = ["ss", "-H", "-ltnup"]
    if netns is not None:
        command = ["nsenter", f"--net={netns}", *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", output)}


def host_is_clean(state: Path) -> list[str]:
    """What a stopped node left behind on the host (empty when nothing)."""
    left = []
    if NETNS_PATH.exists():
        left.append(f"network namespace {NETNS}")
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    left += [f"mount {m}" for m in mounts if m.startswith((f"{state}/", f"{RUN_DIR}/"))]
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if (hierarchy / "kubepods").exists():
            left.append(f"cgroup {hierarchy / 'kubepods'}")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(state).encode() in cmdline or str(RUN_DIR).encode() in cmdline:
                readable = cmdline.replace(b"\0", b" ")[:120].decode(errors="replace")
                left.append(f"process {entry.name}: {readable}")
    return left


def test_node_daemons_listen_only_inside_the_namespace(node: NodeCluster) -> None:
    ours = node.session.pids
    inside = {name for name, pid in ours.items() if pid in listening_pids(NETNS_PATH)}
    assert {"kubelet", "kube-proxy", "metrics-server", "kube-router"} <= inside, inside
    assert any(name.startswith("control-plane/") for name in inside), inside
    outside = {name for name, pid in ours.items() if pid in listening_pids()}
    assert not outside, f"node processes listen on the host's network: {outside}"


def test_down_restores_the_host_and_a_start_after_a_kill_cleans_up(node: NodeCluster) -> None:
    saved = dict(node.session.sysctls)
    assert saved and set(saved) == set(KUBELET_SYSCTLS)
    images = list(node.images)

    node.stop()
    assert host_is_clean(node.state) == []
    assert {name: sysctl(name) for name in KUBELET_SYSCTLS} == saved

    # A run killed without any cleanup (kill -9 of every component, as a crash or an OOM would) ...
    node.start(images)
    killed = dict(node.session.pids)
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not any(pid_alive(pid) for pid in killed.values()), 30)
    assert NETNS_PATH.exists(), "the killed run should have left its namespace behind"
    # ... is cleaned up by the next start, which then works.
    node.start(images)
    assert not any(pid_alive(pid) for pid in killed.values())
    node.kubectl("wait", "--for=condition=Ready", "node/node1", "--timeout=60s")


def test_a_component_that_dies_is_reported_by_name(node: NodeCluster) -> None:
    os.kill(node.session.pids["kube-router"], signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(node.session.pids["kube-router"]), 30)
    with pytest.raises(StartFailed, match=r"kube-router exited; see .*kube-router\.log"):
        node.assert_alive()


def test_missing_prerequisites_are_one_line_naming_the_fix(node: NodeCluster, tmp_path: Path) -> None:
    with pytest.raises(Unsuitable, match=r"kwokctl is missing; fix: `make cluster-up` builds it"):
        check_host(tmp_path, node.binaries.node)
    second = subprocess.run(
        [sys.executable, REPO_ROOT / "ci/cluster/node_cluster.py", "up"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PANEL_NODE_DIR": str(node.state)},
        timeout=600,
    )
    assert second.returncode == 2, second.stderr
    (line,) = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert "already running" in line and "fix: `make cluster-down`" in line, second.stderr
