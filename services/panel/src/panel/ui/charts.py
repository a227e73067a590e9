"""Geometry of the server page's SVGs (heartbeat bar, latency chart), drawn by ``_charts.html``.

Server-rendered SVG: no chart library, no script, no inline style (colours come from CSS classes).
Labels live in HTML around the plot, so they stay legible when the SVG is scaled to a phone's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from panel.models import CheckResult
from panel.ui.uptime import CHART_BUCKETS, HEARTBEATS, LatencyBucket

BEAT_PITCH = 10  # viewBox units per heartbeat slot
BEAT_WIDTH = 7
PLOT_WIDTH = 600
PLOT_HEIGHT = 160
DOWN_BAND = 8  # a red mark along the bottom for buckets with failed checks


@dataclass(frozen=True)
class Beat:
    x: int
    result: CheckResult | None  # None: an empty slot (fewer results than slots so far)


@dataclass(frozen=True)
class Mark:
    x: float
    width: float
    bucket: LatencyBucket


@dataclass(frozen=True)
class LatencyChart:
    lines: list[str]  # SVG polyline point lists, one per run of consecutive buckets with a latency
    areas: list[str]  # the same runs closed down to the baseline, for the light fill
    down_marks: list[Mark]
    y_max_ms: float
    width: int = PLOT_WIDTH
    height: int = PLOT_HEIGHT

    @property
    def empty(self) -> bool:
        return not self.lines and not self.down_marks


def heartbeat_slots(results: list[CheckResult]) -> list[Beat]:
    """HEARTBEATS slots, newest on the right; missing older results leave empty slots on the left."""
    padding = HEARTBEATS - len(results)
    slots: list[CheckResult | None] = [None] * padding + list(results)
    return [Beat(i * BEAT_PITCH, result) for i, result in enumerate(slots)]


def _nice_ceiling(value: float) -> float:
    """The next 1, 2 or 5 x 10^n at or above ``value`` (axis maximum)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10.0**exponent
        if candidate >= value:
            return candidate
    return 10.0 ** (exponent + 1)


def latency_chart(buckets: list[LatencyBucket]) -> LatencyChart:
    if not buckets:
        return LatencyChart([], [], [], 1.0)
    y_max = _nice_ceiling(max((b.avg_ms or 0.0) for b in buckets) * 1.1)
    pitch = PLOT_WIDTH / (CHART_BUCKETS + 1)
    base = PLOT_HEIGHT - DOWN_BAND - 2
    runs: list[list[tuple[float, float]]] = []
    previous: int | None = None
    for bucket in buckets:
        if bucket.avg_ms is None:
            previous = None
            continue
        x = bucket.index * pitch + pitch / 2
        y = base - (bucket.avg_ms / y_max) * (base - 4)
        if previous is None or bucket.index - previous > 1:
            runs.append([])
        runs[-1].append((x, y))
        previous = bucket.index
    lines = [" ".join(f"{x:.1f},{y:.1f}" for x, y in run) for run in runs]
    areas = [
        f"{run[0][0]:.1f},{base} "
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        + f" {run[-1][0]:.1f},{base}"
        for run in runs
    ]
    marks = [Mark(b.index * pitch, pitch, b) for b in buckets if b.down]
    return LatencyChart(lines, areas, marks, y_max)
