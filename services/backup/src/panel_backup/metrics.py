"""Prometheus metrics per backup type: pushed to a Pushgateway, or written as a node-exporter textfile."""

from __future__ import annotations

import time
from pathlib import Path

from service_settings import redact_url, scrub

from .logs import get_logger
from .settings import Settings

log = get_logger("metrics")
PREFIX = "panel_backup"
GAUGES = {
    "last_attempt_timestamp_seconds": "Unix time of the last attempt",
    "last_success_timestamp_seconds": "Unix time of the last successful run",
    "last_duration_seconds": "Duration of the last run",
    "last_plain_bytes": "Plaintext bytes of the last successful backup",
    "last_stored_bytes": "Stored (compressed, encrypted) bytes of the last successful backup",
    "last_result": "1 if the last run succeeded, 0 if it failed",
}


def _previous_values(path: Path) -> dict[tuple[str, str], float]:
    """Values already in the textfile, so one type's run does not erase the others' (or its last success)."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[tuple[str, str], float] = {}
    if not path.exists():
        return values
    try:
        for family in text_string_to_metric_families(path.read_text()):
            for sample in family.samples:
                values[(sample.name, sample.labels.get("type", ""))] = sample.value
    except (OSError, ValueError) as exc:
        log.warning("ignoring an unreadable metrics textfile", extra={"path": str(path), "error": str(exc)})
    return values


def record(
    settings: Settings,
    job: str,
    *,
    ok: bool,
    duration: float,
    plain_bytes: int | None = None,
    stored_bytes: int | None = None,
) -> None:
    """`job` is a backup type ("database", "files", "config") or "drill"."""
    if not (settings.pushgateway_url or settings.metrics_textfile):
        return
    # Imported here: a CronJob without metrics configured should not pay for the import.
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    now = time.time()
    current = {
        "last_attempt_timestamp_seconds": now,
        "last_duration_seconds": duration,
        "last_result": 1.0 if ok else 0.0,
    }
    if ok:
        current["last_success_timestamp_seconds"] = now
        if plain_bytes is not None:
            current["last_plain_bytes"] = float(plain_bytes)
        if stored_bytes is not None:
            current["last_stored_bytes"] = float(stored_bytes)
    registry = CollectorRegistry()
    gauges = {
        name: Gauge(f"{PREFIX}_{name}", text, ["type"], registry=registry) for name, text in GAUGES.items()
    }
    try:
        if settings.pushgateway_url:
            for name, value in current.items():
                gauges[name].labels(job).set(value)
            # One group per type, so a failed run only replaces that type's attempt metrics.
            push_to_gateway(
                settings.pushgateway_url, job="panel_backup", grouping_key={"type": job}, registry=registry
            )
            return
        assert settings.metrics_textfile is not None
        previous = _previous_values(settings.metrics_textfile)
        for (sample, kind), value in previous.items():
            name = sample.removeprefix(f"{PREFIX}_")
            if name in gauges and not (kind == job and name in current):
                gauges[name].labels(kind).set(value)
        for name, value in current.items():
            gauges[name].labels(job).set(value)
        write_to_textfile(str(settings.metrics_textfile), registry)
    except Exception as exc:  # metrics must never turn a good backup into a failed one
        where = (
            redact_url(settings.pushgateway_url)
            if settings.pushgateway_url
            else str(settings.metrics_textfile)
        )
        log.error("could not publish metrics", extra={"where": where, "error": scrub(str(exc))})
