"""Application logs: share of ERROR/CRITICAL lines among the recent lines of log files.

Reads only the tail of each file (``max_bytes_per_file``), understands JSON lines (python-json-logger's
``levelname``/``asctime`` and common variants) and plain lines that start with a timestamp. Lines without
a timestamp (traceback continuations) belong to the line before them and are not counted again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from panel_health.checks.base import PREFIX, down, finish
from panel_health.results import CheckResult, Sample, Status, observe
from panel_health.settings import LogsConfig, LogSource

KIND = "logs"
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL", "EMERG", "ALERT", "CRIT"})
LEVEL_KEYS = ("levelname", "level", "severity", "log.level", "lvl")
TIME_KEYS = ("asctime", "timestamp", "time", "@timestamp", "ts", "created")
PLAIN_TIMESTAMP = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
)
PLAIN_LEVEL = re.compile(r"\b(ERROR|CRITICAL|FATAL|WARNING|WARN|INFO|DEBUG)\b")


@dataclass(frozen=True)
class LogLine:
    timestamp: float | None
    is_error: bool


def _parse_time(value: object) -> float | None:
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e12 else float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", ".").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_line(line: str) -> LogLine | None:
    """Return the line's time and whether it is an error; None for continuation lines."""
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            level = next((str(record[k]) for k in LEVEL_KEYS if k in record), "")
            timestamp = next((t for k in TIME_KEYS if k in record and (t := _parse_time(record[k]))), None)
            return LogLine(timestamp, level.upper() in ERROR_LEVELS)
    match = PLAIN_TIMESTAMP.match(stripped)
    if not match:
        return None
    level_match = PLAIN_LEVEL.search(stripped, match.end())
    level = level_match.group(1) if level_match else ""
    return LogLine(_parse_time(match.group(1)), level in ERROR_LEVELS)


def _files(source: LogSource) -> list[Path]:
    if source.path.is_dir():
        return sorted(p for p in source.path.glob(source.glob) if p.is_file())
    return [source.path] if source.path.is_file() else []


def _tail_lines(path: Path, max_bytes: int) -> Iterator[str]:
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        start = max(0, size - max_bytes)
        handle.seek(start)
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    return iter(lines[1:] if start > 0 else lines)  # the first line of a tail is usually cut


def count_recent(source: LogSource, window_seconds: float, max_bytes: int, now: float) -> tuple[int, int]:
    """(lines, error lines) whose time is within the window; lines without any time use the file's mtime."""
    lines = errors = 0
    for path in _files(source):
        mtime = path.stat().st_mtime
        for raw in _tail_lines(path, max_bytes):
            parsed = parse_line(raw)
            if parsed is None:
                continue
            when = parsed.timestamp if parsed.timestamp is not None else mtime
            if now - when <= window_seconds:
                lines += 1
                errors += parsed.is_error
    return lines, errors


def check_logs(source: LogSource, config: LogsConfig, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    if not source.path.exists():
        return down(
            KIND,
            source.name,
            started,
            "unreadable",
            f"{source.path} does not exist",
            "source",
            Status.UNKNOWN,
        )
    try:
        lines, errors = count_recent(source, config.window_seconds, config.max_bytes_per_file, time.time())
    except OSError as exc:
        return down(
            KIND,
            source.name,
            started,
            "unreadable",
            f"cannot read logs: {exc.strerror}",
            "source",
            Status.UNKNOWN,
        )
    ratio = errors / lines if lines else 0.0
    labels = {"source": source.name}
    samples = [
        Sample(f"{PREFIX}_log_lines", "Log lines within the window.", lines, labels),
        Sample(f"{PREFIX}_log_error_lines", "ERROR/CRITICAL log lines within the window.", errors, labels),
        Sample(f"{PREFIX}_log_error_ratio", "Error lines / lines within the window (0-1).", ratio, labels),
    ]
    observations = [
        observe(
            "errorRatio", round(ratio, 4), "ratio", config.error_ratio_warning, config.error_ratio_critical
        ),
        observe("errorLines", errors, "lines"),
    ]
    message = f"{errors} errors in {lines} lines over the last {config.window_seconds:g}s"
    return finish(KIND, source.name, started, observations, samples, "source", message)
