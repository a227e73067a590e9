"""Application-log error rate from files with injected errors (JSON and plain lines)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from panel_health.checks import build_checks
from panel_health.checks.logs_check import parse_line
from panel_health.results import CheckResult, Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings


def _json_line(level: str, when: datetime) -> str:
    return json.dumps({"time": when.isoformat(), "levelname": level, "name": "panel", "message": "m"})


def _plain_line(level: str, when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S},123 {level} panel.worker: something happened"


def _run(settings: HealthSettings, name: str) -> CheckResult:
    return run_checks(build_checks(settings, (f"logs:{name}",)), 20)[0]


def _counts(result: CheckResult) -> tuple[float, float]:
    values = {s.name: s.value for s in result.samples}
    return values["panel_health_log_lines"], values["panel_health_log_error_lines"]


def test_json_log_errors_within_the_window(
    make_settings: Callable[..., HealthSettings], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    lines = [_json_line("ERROR", old)] * 50  # outside the window: ignored
    lines += [_json_line("INFO", now)] * 16 + [_json_line("ERROR", now), _json_line("CRITICAL", now)]
    lines += ["Traceback (most recent call last):", '  File "x.py", line 1']  # continuation lines
    log = tmp_path / "panel.log"
    log.write_text("\n".join(lines) + "\n")
    settings = make_settings(logs={"window_seconds": 600, "sources": [{"name": "panel", "path": str(log)}]})
    result = _run(settings, "panel")
    assert _counts(result) == (18, 2)
    ratio = next(o for o in result.observations if o.name == "errorRatio")
    assert ratio.value == round(2 / 18, 4)
    assert result.status is Status.WARN  # 11 % >= 5 % warning, < 25 % critical


def test_plain_logs_in_a_directory(make_settings: Callable[..., HealthSettings], tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)  # zone-less plain lines are read as UTC
    (tmp_path / "a.log").write_text(
        "\n".join([_plain_line("ERROR", now)] * 3 + [_plain_line("INFO", now)]) + "\n"
    )
    (tmp_path / "b.log").write_text(_plain_line("WARNING", now) + "\n")
    (tmp_path / "ignored.txt").write_text(_plain_line("ERROR", now) + "\n")
    settings = make_settings(logs={"sources": [{"name": "dir", "path": str(tmp_path)}]})
    result = _run(settings, "dir")
    assert _counts(result) == (5, 3)
    assert result.status is Status.FAIL  # 60 % >= 25 %


def test_lines_without_time_use_the_file_age(
    make_settings: Callable[..., HealthSettings], tmp_path: Path
) -> None:
    log = tmp_path / "bare.log"
    log.write_text('{"level": "error", "msg": "no time here"}\n{"level": "info", "msg": "x"}\n')
    settings = make_settings(logs={"window_seconds": 60, "sources": [{"name": "bare", "path": str(log)}]})
    assert _counts(_run(settings, "bare")) == (2, 1)
    stale = time.time() - 3600
    os.utime(log, (stale, stale))
    assert _counts(_run(settings, "bare")) == (0, 0)


def test_only_the_tail_is_read(make_settings: Callable[..., HealthSettings], tmp_path: Path) -> None:
    now = datetime.now(UTC)
    log = tmp_path / "big.log"
    log.write_text("\n".join([_json_line("ERROR", now)] * 2000 + [_json_line("INFO", now)] * 200) + "\n")
    settings = make_settings(
        logs={"max_bytes_per_file": 4096, "sources": [{"name": "big", "path": str(log)}]}
    )
    lines, errors = _counts(_run(settings, "big"))
    assert errors == 0 and 0 < lines < 200


def test_missing_path_is_unknown(make_settings: Callable[..., HealthSettings], tmp_path: Path) -> None:
    settings = make_settings(logs={"sources": [{"name": "gone", "path": str(tmp_path / "nope")}]})
    result = _run(settings, "gone")
    assert (result.status, result.reason) == (Status.UNKNOWN, "unreadable")


def test_parse_line_formats() -> None:
    assert parse_line("") is None
    assert parse_line("    at something") is None
    parsed = parse_line('{"@timestamp": 1700000000000, "severity": "CRITICAL"}')
    assert parsed is not None and parsed.is_error and parsed.timestamp == 1700000000.0
    parsed = parse_line("[2024-05-01T10:00:00Z] ERROR boom")
    assert parsed is not None and parsed.is_error
    parsed = parse_line("2024-05-01 10:00:00 INFO ERROR-free message")
    assert parsed is not None and not parsed.is_error
