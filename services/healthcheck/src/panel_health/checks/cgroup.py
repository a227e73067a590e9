"""Container-aware memory and CPU readings, from cgroup v2, cgroup v1, or the host's /proc.

Inside a container, /proc/meminfo and /proc/stat describe the *host* (the psutil pitfall), so the limits
and usage come from the process's own cgroup:

- cgroup v2 (one hierarchy at ``cgroup_root``): ``memory.max``, ``memory.current`` minus the
  ``inactive_file`` of ``memory.stat``, ``cpu.max``, ``usage_usec`` of ``cpu.stat``;
- cgroup v1 (a hierarchy per controller under ``cgroup_root``: ``memory/``, ``cpu,cpuacct/`` or ``cpu/`` and
  ``cpuacct/``): ``memory.limit_in_bytes`` (and ``hierarchical_memory_limit``), ``memory.usage_in_bytes``
  minus ``total_inactive_file``, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, ``cpuacct.usage``;
- else the host's /proc.

The process's own cgroup is ``/proc/self/cgroup``'s path below the hierarchy's mount; when that directory is
not there (a container whose mount shows only its own cgroup, as Docker and containerd do on v1), the mount
itself is the process's cgroup. Each reading says which ``source`` it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
Source = Literal["cgroup_v2", "cgroup_v1", "host"]
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number; anything this big is none.
V1_UNLIMITED_BYTES = 2**62
V1_CPU_MOUNTS = ("cpu,cpuacct", "cpuacct,cpu")


@dataclass(frozen=True)
class MemoryReading:
    used_bytes: float  # working set: usage minus reclaimable page cache
    limit_bytes: float
    limited: bool  # False when the limit is the whole machine's memory
    source: Source = "host"


@dataclass(frozen=True)
class CpuReading:
    usage_seconds: float  # cumulative CPU time used
    capacity_cores: float  # how many CPUs' worth we may use
    limited: bool
    total_seconds: float | None = None  # host mode only: cumulative CPU time of all kinds
    source: Source = "host"


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _stat_file(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    if not path.is_file():
        return values
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def _meminfo(proc_root: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in _read(proc_root / "meminfo").splitlines():
        key, _, rest = line.partition(":")
        number = rest.split()[0] if rest.split() else "0"
        values[key] = int(number) * 1024  # meminfo reports kB
    return values


def available_cpus() -> float:
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return float(os.cpu_count() or 1)


def own_cgroups(proc_root: Path) -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup ("" is the v2 hierarchy)."""
    path = proc_root / "self" / "cgroup"
    found: dict[str, str] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers, cgroup_path = parts[1], parts[2]
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = cgroup_path
    return found


def _own_directory(base: Path, own_path: str | None, probe: str) -> Path | None:
    """The process's cgroup directory under the hierarchy mounted at ``base`` that has file ``probe``."""
    candidates = [base / own_path.lstrip("/")] if own_path and own_path != "/" else []
    candidates.append(base)
    return next((d for d in candidates if (d / probe).is_file()), None)


def v2_directory(cgroup_root: Path, proc_root: Path) -> Path | None:
    if not (cgroup_root / "cgroup.controllers").is_file():
        return None
    return _own_directory(cgroup_root, own_cgroups(proc_root).get(""), "memory.current")


def v1_directory(cgroup_root: Path, proc_root: Path, controller: str, probe: str) -> Path | None:
    own = own_cgroups(proc_root).get(controller)
    mounts = (*V1_CPU_MOUNTS, controller) if controller in ("cpu", "cpuacct") else (controller,)
    for mount in mounts:
        if (cgroup_root / mount).is_dir() and (found := _own_directory(cgroup_root / mount, own, probe)):
            return found
    return None


def is_cgroup_v2(cgroup_root: Path, proc_root: Path = Path("/proc")) -> bool:
    return v2_directory(cgroup_root, proc_root) is not None


def read_memory(cgroup_root: Path, proc_root: Path) -> MemoryReading:
    host = _meminfo(proc_root)
    host_total = float(host.get("MemTotal", 0))
    if (v2 := v2_directory(cgroup_root, proc_root)) is not None:
        current = float(_read(v2 / "memory.current"))
        working_set = max(0.0, current - float(_stat_file(v2 / "memory.stat").get("inactive_file", 0)))
        raw_max = _read(v2 / "memory.max") if (v2 / "memory.max").is_file() else "max"
        if raw_max == "max":
            return MemoryReading(working_set, host_total, False, "cgroup_v2")
        return MemoryReading(working_set, float(raw_max), True, "cgroup_v2")
    if (v1 := v1_directory(cgroup_root, proc_root, "memory", "memory.limit_in_bytes")) is not None:
        stat = _stat_file(v1 / "memory.stat")
        usage = float(_read(v1 / "memory.usage_in_bytes"))
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
        working_set = max(0.0, usage - float(inactive))
        # A parent's limit binds too; hierarchical_memory_limit is the smallest on the way up.
        limit = float(
            min(int(_read(v1 / "memory.limit_in_bytes")), stat.get("hierarchical_memory_limit", 2**63))
        )
        if limit >= V1_UNLIMITED_BYTES or (host_total and limit >= host_total):
            return MemoryReading(working_set, host_total, False, "cgroup_v1")
        return MemoryReading(working_set, limit, True, "cgroup_v1")
    return MemoryReading(host_total - float(host.get("MemAvailable", 0)), host_total, False, "host")


def _host_cpu(proc_root: Path, cpus: float) -> CpuReading:
    fields = _read(proc_root / "stat").splitlines()[0].split()[1:]
    jiffies = [int(v) for v in fields]
    idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
    total = sum(jiffies[:8])
    return CpuReading((total - idle) / USER_HZ, cpus, False, total / USER_HZ, "host")


def read_cpu(cgroup_root: Path, proc_root: Path) -> CpuReading:
    cpus = available_cpus()
    if (v2 := v2_directory(cgroup_root, proc_root)) is not None:
        usage = _stat_file(v2 / "cpu.stat")["usage_usec"] / 1_000_000
        raw_max = _read(v2 / "cpu.max") if (v2 / "cpu.max").is_file() else "max"
        quota, _, period = raw_max.partition(" ")
        if quota == "max":
            return CpuReading(usage, cpus, False, source="cgroup_v2")
        return CpuReading(usage, int(quota) / int(period or "100000"), True, source="cgroup_v2")
    accounting = v1_directory(cgroup_root, proc_root, "cpuacct", "cpuacct.usage")
    if accounting is None:
        return _host_cpu(proc_root, cpus)
    usage = int(_read(accounting / "cpuacct.usage")) / 1_000_000_000
    quota_dir = v1_directory(cgroup_root, proc_root, "cpu", "cpu.cfs_quota_us")
    quota_us = int(_read(quota_dir / "cpu.cfs_quota_us")) if quota_dir else -1
    if quota_dir is None or quota_us <= 0:  # -1: no quota
        return CpuReading(usage, cpus, False, source="cgroup_v1")
    period_file = quota_dir / "cpu.cfs_period_us"
    period_us = int(_read(period_file)) if period_file.is_file() else 100_000
    return CpuReading(usage, min(cpus, quota_us / period_us), True, source="cgroup_v1")


def cpu_used_ratio(before: CpuReading, after: CpuReading, elapsed_seconds: float) -> float:
    """Share (0-1) of the CPU we may use that was used between two readings."""
    if before.total_seconds is not None and after.total_seconds is not None:
        total = after.total_seconds - before.total_seconds
        return max(0.0, min(1.0, (after.usage_seconds - before.usage_seconds) / total)) if total > 0 else 0.0
    if elapsed_seconds <= 0 or after.capacity_cores <= 0:
        return 0.0
    used = (after.usage_seconds - before.usage_seconds) / (elapsed_seconds * after.capacity_cores)
    return max(0.0, min(1.0, used))
