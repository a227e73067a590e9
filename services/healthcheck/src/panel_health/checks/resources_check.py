"""Resources: disk usage of configured paths, container memory and CPU against ratio thresholds."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from panel_health.checks.base import PREFIX, down, finish
from panel_health.checks.cgroup import CpuReading, cpu_used_ratio, read_cpu, read_memory
from panel_health.results import CheckResult, Observation, Sample, Status, observe
from panel_health.settings import ResourcesConfig

KIND = "resources"
MAX_SAMPLE_AGE_SECONDS = 300.0


class CpuSampler:
    """Remembers the previous CPU reading so a scrape measures usage since the last scrape.

    Without a previous reading (or a stale one) it takes a short sample, bounded by the check's timeout;
    scrapes closer together than MIN_INTERVAL_SECONDS reuse the last ratio instead of measuring noise.
    """

    MIN_INTERVAL_SECONDS = 1.0

    def __init__(self, config: ResourcesConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._previous: tuple[float, CpuReading] | None = None
        self._last_ratio = 0.0

    def ratio(self, timeout_seconds: float) -> tuple[float, CpuReading]:
        now = time.monotonic()
        with self._lock:
            previous, last_ratio = self._previous, self._last_ratio
        if previous is not None and now - previous[0] < self.MIN_INTERVAL_SECONDS:
            return last_ratio, read_cpu(self._config.cgroup_root, self._config.proc_root)
        if previous is None or now - previous[0] > MAX_SAMPLE_AGE_SECONDS:
            first = read_cpu(self._config.cgroup_root, self._config.proc_root)
            time.sleep(min(self._config.cpu_sample_seconds, max(0.0, timeout_seconds / 2)))
            previous = (now, first)
            now = time.monotonic()
        reading = read_cpu(self._config.cgroup_root, self._config.proc_root)
        ratio = cpu_used_ratio(previous[1], reading, now - previous[0])
        with self._lock:
            self._previous, self._last_ratio = (now, reading), ratio
        return ratio, reading


def _disk(path: Path, config: ResourcesConfig) -> tuple[list[Observation], list[Sample]]:
    labels = {"path": str(path)}
    try:
        stats = os.statvfs(path)
    except OSError as exc:
        return [Observation(f"disk[{path}]", f"unreadable: {exc.strerror}", status=Status.UNKNOWN)], []
    used = float((stats.f_blocks - stats.f_bfree) * stats.f_frsize)
    available = float(stats.f_bavail * stats.f_frsize)
    size = float(stats.f_blocks * stats.f_frsize)
    # Like df: the share of the space usable by unprivileged processes that is taken.
    ratio = used / (used + available) if used + available > 0 else 0.0
    samples = [
        Sample(f"{PREFIX}_disk_used_bytes", "Bytes used on the filesystem holding the path.", used, labels),
        Sample(f"{PREFIX}_disk_size_bytes", "Size of the filesystem holding the path.", size, labels),
        Sample(
            f"{PREFIX}_disk_used_ratio",
            "Used share (0-1) of the filesystem, as df reports it.",
            ratio,
            labels,
        ),
    ]
    observation = observe(
        f"disk[{path}]", round(ratio, 4), "ratio", config.disk_warning_ratio, config.disk_critical_ratio
    )
    return [observation], samples


def _memory(config: ResourcesConfig) -> tuple[list[Observation], list[Sample], bool]:
    memory = read_memory(config.cgroup_root, config.proc_root)
    ratio = memory.used_bytes / memory.limit_bytes if memory.limit_bytes else 0.0
    labels = {"source": memory.source}
    samples = [
        Sample(
            f"{PREFIX}_memory_used_bytes",
            "Memory working set; source: cgroup_v2, cgroup_v1 or host.",
            memory.used_bytes,
            labels,
        ),
        Sample(
            f"{PREFIX}_memory_limit_bytes",
            "Memory limit (the cgroup's, else the host's total); source: cgroup_v2, cgroup_v1 or host.",
            memory.limit_bytes,
            labels,
        ),
        Sample(f"{PREFIX}_memory_used_ratio", "Memory working set / limit (0-1).", ratio, labels),
    ]
    observation = observe(
        "memoryUsedRatio", round(ratio, 4), "ratio", config.memory_warning_ratio, config.memory_critical_ratio
    )
    return [observation], samples, memory.limited


def _cpu(
    config: ResourcesConfig, sampler: CpuSampler, timeout_seconds: float
) -> tuple[list[Observation], list[Sample], bool]:
    ratio, cpu = sampler.ratio(timeout_seconds)
    labels = {"source": cpu.source}
    samples = [
        Sample(
            f"{PREFIX}_cpu_usage_seconds_total",
            "CPU time used; source: cgroup_v2, cgroup_v1 or host.",
            cpu.usage_seconds,
            labels,
            kind="counter",
        ),
        Sample(
            f"{PREFIX}_cpu_limit_cores",
            "CPUs' worth we may use (cgroup quota, else CPUs); source: cgroup_v2, cgroup_v1 or host.",
            cpu.capacity_cores,
            labels,
        ),
        Sample(
            f"{PREFIX}_cpu_used_ratio", "CPU used / limit (0-1) since the previous scrape.", ratio, labels
        ),
    ]
    observation = observe(
        "cpuUsedRatio", round(ratio, 4), "ratio", config.cpu_warning_ratio, config.cpu_critical_ratio
    )
    return [observation], samples, cpu.limited


def check_resources(config: ResourcesConfig, sampler: CpuSampler, timeout_seconds: float) -> CheckResult:
    """The measurements listed in ``resources.measure`` (disk, memory, cpu), each optional."""
    started = time.monotonic()
    observations: list[Observation] = []
    samples: list[Sample] = []
    if "disk" in config.measure:
        for path in config.disk_paths:
            disk_observations, disk_samples = _disk(path, config)
            observations += disk_observations
            samples += disk_samples
    measured: list[tuple[list[Observation], list[Sample], bool]] = []
    try:
        if "memory" in config.measure:
            measured.append(_memory(config))
        if "cpu" in config.measure:
            measured.append(_cpu(config, sampler, timeout_seconds))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return down(
            KIND, "", started, "unreadable", f"cannot read memory/CPU figures: {exc}", None, Status.UNKNOWN
        )
    for found, found_samples, _ in measured:
        observations += found
        samples += found_samples
    limited = [is_limited for _, _, is_limited in measured]
    sources = [found_samples[0].labels["source"] for _, found_samples, _ in measured]
    scope = "container" if any(limited) else "host"
    source = f" ({', '.join(sorted(set(sources)))})" if sources else ""
    return finish(KIND, "", started, observations, samples, message=f"limits from the {scope}{source}")
