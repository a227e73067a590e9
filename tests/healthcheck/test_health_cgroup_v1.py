"""cgroup v1 (issue 15 item 4): the resources check reads the container's limits, not the host's.

The fixture tests cover the layouts found in the wild (separate ``cpu`` and ``cpuacct`` mounts or a joint
``cpu,cpuacct``; a host whose mount shows every cgroup; a container whose mount shows only its own). The
last test creates real v1 cgroups with a 256 MiB memory limit and a 0.5 CPU quota on this machine (root,
cgroups v1), runs the exporter and the CLI inside them, and removes them again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from panel_health.checks.cgroup import read_cpu, read_memory
from prometheus_client.parser import text_string_to_metric_families
from support.servers import free_port, wait_for_port

MIB = 1024**2
HOST_MEMINFO = "MemTotal:       16384000 kB\nMemAvailable:    8192000 kB\n"
UNLIMITED = "9223372036854771712"


def _proc(root: Path, own: dict[str, str]) -> Path:
    (root / "self").mkdir(parents=True)
    (root / "meminfo").write_text(HOST_MEMINFO)
    (root / "stat").write_text("cpu  100 0 100 700 100 0 0 0 0 0\n")
    lines = [f"{n}:{controller}:{path}" for n, (controller, path) in enumerate(own.items(), start=1)]
    (root / "self" / "cgroup").write_text("\n".join([*lines, "0::/"]) + "\n")
    return root


def _memory_dir(
    directory: Path, limit: str, usage: int, inactive: int, hierarchical: str = UNLIMITED
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (directory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (directory / "memory.stat").write_text(
        f"cache 1\ninactive_file 7\nhierarchical_memory_limit {hierarchical}\n"
        f"total_inactive_file {inactive}\n"
    )


def _cpu_dirs(cpu: Path, cpuacct: Path, quota: int, period: int, usage_ns: int) -> None:
    for directory in (cpu, cpuacct):
        directory.mkdir(parents=True, exist_ok=True)
    (cpu / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (cpu / "cpu.cfs_period_us").write_text(f"{period}\n")
    (cpuacct / "cpuacct.usage").write_text(f"{usage_ns}\n")


def test_separate_cpu_and_cpuacct_mounts_below_a_host_wide_mount(tmp_path: Path) -> None:
    """The host's view (this machine): every cgroup is visible, the process's is in /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    _memory_dir(root / "memory", UNLIMITED, 10 * 1024 * MIB, 0)  # the root: no limit
    _memory_dir(root / "memory/pod/app", str(256 * MIB), 200 * MIB, 50 * MIB)
    _cpu_dirs(root / "cpu", root / "cpuacct", -1, 100000, 9 * 10**12)
    _cpu_dirs(root / "cpu/pod/app", root / "cpuacct/pod/app", 50000, 100000, 3 * 10**9)
    proc = _proc(tmp_path / "proc", {"memory": "/pod/app", "cpu": "/pod/app", "cpuacct": "/pod/app"})
    memory = read_memory(root, proc)
    assert (memory.limit_bytes, memory.used_bytes, memory.limited, memory.source) == (
        256 * MIB,
        150 * MIB,
        True,
        "cgroup_v1",
    )
    cpu = read_cpu(root, proc)
    assert (cpu.capacity_cores, cpu.usage_seconds, cpu.limited, cpu.source) == (0.5, 3.0, True, "cgroup_v1")


def test_joint_cpu_cpuacct_mount_seen_from_inside_a_container(tmp_path: Path) -> None:
    """Docker/containerd on v1: the mount shows only the container's cgroup; /proc/self/cgroup names a
    path that does not exist below it."""
    root = tmp_path / "cgroup"
    _memory_dir(root / "memory", UNLIMITED, 100 * MIB, 0, hierarchical=str(512 * MIB))  # a parent's limit
    _cpu_dirs(root / "cpu,cpuacct", root / "cpu,cpuacct", 150000, 100000, 5 * 10**9)
    own = "/kubepods/burstable/pod1/abc"
    proc = _proc(tmp_path / "proc", {"memory": own, "cpu,cpuacct": own})
    memory = read_memory(root, proc)
    assert (memory.limit_bytes, memory.limited, memory.source) == (512 * MIB, True, "cgroup_v1")
    cpu = read_cpu(root, proc)
    assert (cpu.capacity_cores, cpu.usage_seconds, cpu.source) == (
        min(1.5, os.cpu_count() or 1),
        5.0,
        "cgroup_v1",
    )


def test_v1_without_limits_reports_the_host_totals(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _memory_dir(root / "memory", UNLIMITED, 100 * MIB, 0)
    _cpu_dirs(root / "cpu", root / "cpuacct", -1, 100000, 10**9)
    proc = _proc(tmp_path / "proc", {"memory": "/", "cpu": "/", "cpuacct": "/"})
    memory = read_memory(root, proc)
    assert (memory.limit_bytes, memory.limited, memory.source) == (16384000 * 1024, False, "cgroup_v1")
    assert not read_cpu(root, proc).limited


# -- a real cgroup v1 on this machine -----------------------------------------------------------------

V1_ROOT = Path("/sys/fs/cgroup")


def _v1_controller_dir(controller: str) -> Path | None:
    for name in ("cpu,cpuacct", "cpuacct,cpu", controller) if controller != "memory" else ("memory",):
        path = V1_ROOT / name
        if (path / "cgroup.procs").is_file() and not (path / "cgroup.controllers").exists():
            return path
    return None


@pytest.fixture
def v1_cgroup() -> Iterator[list[Path]]:
    """Fresh memory (256 MiB) and cpu (0.5 CPU) v1 cgroups; yields the directories to join."""
    mounts = {c: _v1_controller_dir(c) for c in ("memory", "cpu", "cpuacct")}
    if os.geteuid() != 0 or any(m is None for m in mounts.values()):
        pytest.skip("needs root on a cgroup v1 (or hybrid) host with memory, cpu and cpuacct hierarchies")
    name = f"panel-health-test-{os.getpid()}-{time.monotonic_ns()}"
    created: list[Path] = []
    for mount in dict.fromkeys(m for m in mounts.values() if m is not None):
        directory = mount / name
        directory.mkdir()
        created.append(directory)
    memory_dir = next(d for d in created if d.parent == mounts["memory"])
    cpu_dir = next(d for d in created if d.parent == mounts["cpu"])
    (memory_dir / "memory.limit_in_bytes").write_text(str(256 * MIB))
    (cpu_dir / "cpu.cfs_period_us").write_text("100000")
    (cpu_dir / "cpu.cfs_quota_us").write_text("50000")
    yield created
    for directory in created:
        deadline = time.monotonic() + 30
        while True:
            try:
                directory.rmdir()
                break
            except OSError:  # a process not yet reaped still counts as a member
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _joiner(directories: list[Path]) -> Callable[[], None]:
    def join() -> None:
        for directory in directories:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    return join


def _run_in(directories: list[Path], args: list[str], config: Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "panel_health", *args],
        env={**os.environ, "PANEL_HEALTH_CONFIG": str(config)},
        preexec_fn=_joiner(directories),  # joins the cgroup between fork and exec
        text=True,
        **kwargs,
    )


def test_real_v1_cgroup_limits_are_reported(v1_cgroup: list[Path], tmp_path: Path) -> None:
    config = tmp_path / "health.yaml"
    config.write_text(
        "http: {enabled: false}\ntls: {enabled: false}\n"
        "resources: {disk_paths: [], cpu_sample_seconds: 0.2}\n"
    )
    check = _run_in(
        v1_cgroup,
        ["check", "--check", "resources", "--format", "json"],
        config,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = check.communicate(timeout=120)
    assert check.returncode in (0, 1, 2), stderr
    document = json.loads(stdout)
    memory = document["checks"]["resources:memoryUsedRatio"][0]
    # A Python process of ~30-60 MiB against 256 MiB: far above its share of the host's 24 GB.
    assert 0.02 < memory["observedValue"] < 1, memory

    port = free_port()
    serve = _run_in(
        v1_cgroup, ["serve", "--host", "127.0.0.1", "--port", str(port)], config, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(port)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    series = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    source = (("source", "cgroup_v1"),)
    assert series[("panel_health_memory_limit_bytes", source)] == 256 * MIB
    assert series[("panel_health_cpu_limit_cores", source)] == 0.5
    assert 0 < series[("panel_health_memory_used_bytes", source)] < 256 * MIB
    assert series[("panel_health_cpu_usage_seconds_total", source)] > 0
