"""Container-aware memory and CPU readings.

Inside a container, /proc/meminfo and /proc/stat describe the *host* (the psutil pitfall), so the limits
and usage come from the cgroup v2 files of the container's own cgroup (mounted at /sys/fs/cgroup). Only
when no cgroup v2 hierarchy is mounted there do we fall back to the host's /proc figures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class MemoryReading:
    used_bytes: float  # working set: usage minus reclaimable page cache
    limit_bytes: float
    limited: bool  # False when the limit is the whole machine's memory


@dataclass(frozen=True)
class CpuReading:
    usage_seconds: float  # cumulative CPU time used
    capacity_cores: float  # how many CPUs' worth we may use
    limited: bool
    total_seconds: float | None = None  # host mode only: cumulative CPU time of all kinds


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _stat_file(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
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


def is_cgroup_v2(cgroup_root: Path) -> bool:
    return (cgroup_root / "cgroup.controllers").is_file() and (cgroup_root / "memory.current").is_file()


def read_memory(cgroup_root: Path, proc_root: Path) -> MemoryReading:
    host = _meminfo(proc_root)
    host_total = float(host.get("MemTotal", 0))
    if not is_cgroup_v2(cgroup_root):
        return MemoryReading(host_total - float(host.get("MemAvailable", 0)), host_total, False)
    current = float(_read(cgroup_root / "memory.current"))
    stat = _stat_file(cgroup_root / "memory.stat") if (cgroup_root / "memory.stat").is_file() else {}
    working_set = max(0.0, current - float(stat.get("inactive_file", 0)))
    raw_max = _read(cgroup_root / "memory.max") if (cgroup_root / "memory.max").is_file() else "max"
    if raw_max == "max":
        return MemoryReading(working_set, host_total, False)
    return MemoryReading(working_set, float(raw_max), True)


def read_cpu(cgroup_root: Path, proc_root: Path) -> CpuReading:
    cpus = available_cpus()
    if not is_cgroup_v2(cgroup_root):
        fields = _read(proc_root / "stat").splitlines()[0].split()[1:]
        jiffies = [int(v) for v in fields]
        idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)
        total = sum(jiffies[:8])
        return CpuReading((total - idle) / USER_HZ, cpus, False, total / USER_HZ)
    usage = _stat_file(cgroup_root / "cpu.stat")["usage_usec"] / 1_000_000
    raw_max = _read(cgroup_root / "cpu.max") if (cgroup_root / "cpu.max").is_file() else "max"
    quota, _, period = raw_max.partition(" ")
    if quota == "max":
        return CpuReading(usage, cpus, False)
    return CpuReading(usage, int(quota) / int(period or "100000"), True)


def cpu_used_ratio(before: CpuReading, after: CpuReading, elapsed_seconds: float) -> float:
    """Share (0-1) of the CPU we may use that was used between two readings."""
    if before.total_seconds is not None and after.total_seconds is not None:
        total = after.total_seconds - before.total_seconds
        return max(0.0, min(1.0, (after.usage_seconds - before.usage_seconds) / total)) if total > 0 else 0.0
    if elapsed_seconds <= 0 or after.capacity_cores <= 0:
        return 0.0
    used = (after.usage_seconds - before.usage_seconds) / (elapsed_seconds * after.capacity_cores)
    return max(0.0, min(1.0, used))
