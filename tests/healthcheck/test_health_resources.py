"""Container-aware resources: cgroup v2 files from fixtures, host fallback, disk usage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from panel_health.checks import build_checks
from panel_health.checks.cgroup import CpuReading, cpu_used_ratio, read_cpu, read_memory
from panel_health.results import CheckResult, Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings

GIB = 1024**3
HOST_MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\n"
HOST_STAT = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n"


def _cgroup(
    root: Path, memory_max: str, current: int, inactive_file: int, cpu_max: str, usage_usec: int
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "memory.max").write_text(f"{memory_max}\n")
    (root / "memory.current").write_text(f"{current}\n")
    (root / "memory.stat").write_text(
        f"anon 1000\nfile 5000\ninactive_file {inactive_file}\nactive_file 10\n"
    )
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    (root / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n")
    return root


def _proc(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "meminfo").write_text(HOST_MEMINFO)
    (root / "stat").write_text(HOST_STAT)
    return root


def test_container_memory_is_the_working_set_against_memory_max(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path / "cg", str(GIB), 900 * 1024**2, 100 * 1024**2, "max 100000", 0)
    memory = read_memory(cgroup, _proc(tmp_path / "proc"))
    assert memory.limited
    assert memory.limit_bytes == GIB  # the container's limit, not the host's 16 GB
    assert memory.used_bytes == 800 * 1024**2


def test_unlimited_container_memory_falls_back_to_host_total(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path / "cg", "max", 100, 0, "max 100000", 0)
    memory = read_memory(cgroup, _proc(tmp_path / "proc"))
    assert not memory.limited
    assert memory.limit_bytes == 16384000 * 1024


def test_cpu_quota_and_usage(tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path / "cg", "max", 1, 0, "50000 100000", 3_000_000)
    cpu = read_cpu(cgroup, _proc(tmp_path / "proc"))
    assert (cpu.usage_seconds, cpu.capacity_cores, cpu.limited) == (3.0, 0.5, True)
    later = CpuReading(usage_seconds=3.4, capacity_cores=0.5, limited=True)
    # 0.4 CPU-seconds over 1 s with half a CPU allowed: 80 % of the allowance.
    assert cpu_used_ratio(cpu, later, 1.0) == pytest.approx(0.8)


def test_host_fallback_without_cgroup_v2(tmp_path: Path) -> None:
    proc = _proc(tmp_path / "proc")
    memory = read_memory(tmp_path / "no-cgroup", proc)
    assert memory.used_bytes == (16384000 - 8192000) * 1024
    cpu = read_cpu(tmp_path / "no-cgroup", proc)
    assert cpu.total_seconds is not None and not cpu.limited
    busier = CpuReading(cpu.usage_seconds + 0.9, cpu.capacity_cores, False, cpu.total_seconds + 1.0)
    assert cpu_used_ratio(cpu, busier, 0.5) == pytest.approx(0.9)


def _run(settings: HealthSettings) -> CheckResult:
    return run_checks(build_checks(settings, ("resources",)), 20)[0]


def test_check_reports_memory_pressure_from_the_cgroup(
    make_settings: Callable[..., HealthSettings], tmp_path: Path
) -> None:
    cgroup = _cgroup(tmp_path / "cg", str(GIB), int(0.93 * GIB), 0, "max 100000", 0)
    settings = make_settings(
        resources={
            "cgroup_root": str(cgroup),
            "proc_root": str(_proc(tmp_path / "proc")),
            "disk_paths": [str(tmp_path)],
            "cpu_sample_seconds": 0.05,
        }
    )
    result = _run(settings)
    samples = {s.name: s.value for s in result.samples if "path" not in s.labels}
    sources = {
        s.labels.get("source")
        for s in result.samples
        if s.name.startswith(("panel_health_memory", "panel_health_cpu"))
    }
    assert sources == {"cgroup_v2"}
    assert samples["panel_health_memory_limit_bytes"] == GIB
    assert samples["panel_health_memory_used_ratio"] == pytest.approx(0.93)
    assert samples["panel_health_cpu_used_ratio"] == 0.0  # the fixture's usage does not move
    memory = next(o for o in result.observations if o.name == "memoryUsedRatio")
    assert memory.status is Status.WARN and memory.warning == 0.9
    assert result.message == "limits from the container (cgroup_v2)"
    disk = next(s for s in result.samples if s.name == "panel_health_disk_used_ratio")
    assert disk.labels == {"path": str(tmp_path)} and 0 <= disk.value <= 1


def test_disk_threshold_and_missing_path(
    make_settings: Callable[..., HealthSettings], tmp_path: Path
) -> None:
    settings = make_settings(
        resources={
            "cgroup_root": str(_cgroup(tmp_path / "cg", "max", 1, 0, "max 100000", 0)),
            "proc_root": str(_proc(tmp_path / "proc")),
            "disk_paths": [str(tmp_path), str(tmp_path / "missing")],
            "disk_warning_ratio": 0.000001,
            "disk_critical_ratio": 1,
            "cpu_sample_seconds": 0.05,
        }
    )
    result = _run(settings)
    statuses = {o.name: o.status for o in result.observations}
    assert statuses[f"disk[{tmp_path}]"] is Status.WARN
    assert statuses[f"disk[{tmp_path / 'missing'}]"] is Status.UNKNOWN
    assert result.status is Status.UNKNOWN


def test_unreadable_cgroup_is_unknown(make_settings: Callable[..., HealthSettings], tmp_path: Path) -> None:
    cgroup = _cgroup(tmp_path / "cg", "max", 1, 0, "max 100000", 0)
    (cgroup / "cpu.stat").write_text("garbage\n")
    settings = make_settings(
        resources={"cgroup_root": str(cgroup), "proc_root": str(_proc(tmp_path / "proc")), "disk_paths": []}
    )
    result = _run(settings)
    assert (result.up, result.reason, result.status) == (False, "unreadable", Status.UNKNOWN)


def test_each_measurement_can_be_switched_off(
    make_settings: Callable[..., HealthSettings], tmp_path: Path
) -> None:
    """A saturated host must not force exit 2: without cpu in `measure` there is no CPU verdict at all."""
    cgroup = _cgroup(tmp_path / "cg", str(GIB), int(0.5 * GIB), 0, "50000 100000", 0)
    settings = make_settings(
        resources={
            "cgroup_root": str(cgroup),
            "proc_root": str(_proc(tmp_path / "proc")),
            "disk_paths": [str(tmp_path)],
            "measure": ["memory"],
        }
    )
    result = _run(settings)
    assert [o.name for o in result.observations] == ["memoryUsedRatio"]
    assert not any(s.name.startswith(("panel_health_cpu", "panel_health_disk")) for s in result.samples)
    nothing = _run(make_settings(resources={"measure": [], "disk_paths": [str(tmp_path)]}))
    assert nothing.up and nothing.observations == [] and nothing.status is Status.PASS
