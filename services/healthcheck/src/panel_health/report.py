"""CLI output: a human table (colour on a terminal) or an ``application/health+json``-style document."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from panel_health.results import CheckResult, Observation, Status, worst

STYLES = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.UNKNOWN: "magenta"}
# health+json knows pass/warn/fail only; "could not tell" is reported as a warning with its own output.
HEALTH_JSON_STATUS = {Status.PASS: "pass", Status.WARN: "warn", Status.FAIL: "fail", Status.UNKNOWN: "warn"}


def overall(results: list[CheckResult]) -> Status:
    return worst([r.status for r in results])


def _threshold(observation: Observation) -> dict[str, float] | None:
    limits = {
        k: v for k, v in (("warn", observation.warning), ("fail", observation.critical)) if v is not None
    }
    return limits or None


def health_json(results: list[CheckResult], mode: str) -> dict[str, Any]:
    status = overall(results)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    checks: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        entries: list[dict[str, Any]] = []
        base = {"componentId": result.key, "componentType": result.check, "time": now}
        if not result.up:
            entries.append(
                {
                    **base,
                    "status": HEALTH_JSON_STATUS[result.status],
                    "observedValue": None,
                    "output": f"{result.reason}: {result.message}",
                    "reason": result.reason,
                }
            )
        for observation in result.observations:
            entry: dict[str, Any] = {
                **base,
                "status": HEALTH_JSON_STATUS[observation.status],
                "observedValue": observation.value,
                "observedUnit": observation.unit or None,
            }
            if (threshold := _threshold(observation)) is not None:
                entry["threshold"] = threshold
            if observation.status is Status.UNKNOWN:
                entry["output"] = "unknown"
            entries.append(entry)
        for observation_name, group in _by_name(result, entries).items():
            checks[f"{result.key}:{observation_name}"] = group
    return {
        "status": HEALTH_JSON_STATUS[status],
        "exitCode": int(status),
        "verdict": status.label,
        "mode": mode,
        "serviceId": "panel",
        "description": "panel stack health (panel-health)",
        "hostname": socket.gethostname(),
        "time": now,
        "checks": checks,
    }


def _by_name(result: CheckResult, entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    names = (["availability"] if not result.up else []) + [o.name for o in result.observations]
    return {name: [entry] for name, entry in zip(names, entries, strict=True)}


def _format_value(observation: Observation) -> str:
    value = observation.value
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {observation.unit}".strip()


def _format_threshold(observation: Observation) -> str:
    parts = []
    if observation.warning is not None:
        parts.append(f"warn {observation.warning:g}")
    if observation.critical is not None:
        parts.append(f"fail {observation.critical:g}")
    return ", ".join(parts)


def print_human(results: list[CheckResult], console: Console) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    # Every verdict is also a word (the check's status, each measurement's result): colour is a bonus
    # for terminals, and piped output or a screen reader must still tell which measurement failed.
    for column in ("check", "status", "measurement", "value", "result", "threshold", "note"):
        table.add_column(column)
    for result in results:
        style = STYLES[result.status]
        note = escape(result.message if result.up else f"{result.reason}: {result.message}")
        if not result.observations:
            table.add_row(escape(result.key), f"[{style}]{result.status.label}[/]", "", "", "", "", note)
        for index, observation in enumerate(result.observations):
            obs_style = STYLES[observation.status]
            table.add_row(
                escape(result.key) if index == 0 else "",
                f"[{style}]{result.status.label}[/]" if index == 0 else "",
                escape(observation.name),
                f"[{obs_style}]{escape(_format_value(observation))}[/]",
                f"[{obs_style}]{observation.status.label}[/]",
                _format_threshold(observation),
                note if index == 0 else "",
            )
    console.print(table)
    status = overall(results)
    console.print(f"overall: [{STYLES[status]}]{status.label}[/] (exit {int(status)})")


def print_json(results: list[CheckResult], mode: str) -> None:
    print(json.dumps(health_json(results, mode), indent=2, default=str))
