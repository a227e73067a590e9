"""Configuration: YAML plus environment overrides, *_FILE secrets, one clear line per problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from panel_health.settings import ConfigError, load_settings
from support.bad_secret_files import CASES, program, refuses_bad_secret_file


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.panel_url == "http://127.0.0.1:8000"
    assert settings.exporter.port == 9117
    # The panel worker's queues, "Check now" first (services/panel/src/panel/jobs.py).
    assert settings.rq.queues == ["panel-high", "panel"]
    assert settings.rq.depth_warning == 100
    assert [t.name for t in settings.http_targets()] == ["health", "main", "api"]


def test_environment_overrides_the_file(
    write_config: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config({"panel_url": "http://from-file:8000", "redis_url": "redis://file:6379/0"})
    monkeypatch.setenv("PANEL_HEALTH_CONFIG", str(path))
    monkeypatch.setenv("PANEL_URL", "https://from-env.example/")
    settings = load_settings()
    assert settings.panel_url == "https://from-env.example"
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://file:6379/0"


def test_secret_from_file_and_driver_suffix_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql+psycopg2://panel:s3cret@db:5432/panel\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret))
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == "postgresql://panel:s3cret@db:5432/panel"
    assert "s3cret" not in repr(settings)


def test_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDIS_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems[0].startswith("REDIS_URL_FILE: cannot read")


def test_one_line_per_problem(write_config: Callable[[dict[str, Any]], Path]) -> None:
    path = write_config(
        {
            "rq": {"depth_warning": 0, "queus": ["x"]},
            "http": {"targets": [{"name": "a", "path": "no-slash"}, {"name": "a", "url": "http://x"}]},
            "tls": {"warning_days": -1},
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = "\n".join(caught.value.problems)
    assert "rq.depth_warning: Input should be greater than or equal to 1" in text
    assert "rq.queus: unknown setting" in text
    assert "http.targets.0: `path` must start with /" in text
    assert "tls.warning_days" in text
    assert len(caught.value.problems) == 4


def test_duplicate_names_are_rejected(write_config: Callable[[dict[str, Any]], Path]) -> None:
    path = write_config({"logs": {"sources": [{"name": "app", "path": "/x"}, {"name": "app", "path": "/y"}]}})
    with pytest.raises(ConfigError, match=r"logs.sources: duplicate name\(s\) app"):
        load_settings(path)


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rq:\n  queues: [default\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(path)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panel_health", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
    )


def test_cli_config_error_exits_2_without_traceback_or_secret() -> None:
    result = _cli(
        "check",
        env={"PANEL_URL": "panel:8000", "DATABASE_URL": "mysql://root:hunter2@db/panel"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "PANEL_URL: must start with http:// or https://" in result.stderr
    assert "DATABASE_URL: must be a postgresql://" in result.stderr


def test_cli_selecting_an_unconfigured_check_exits_2() -> None:
    result = _cli("check", "--check", "postgres")
    assert result.returncode == 2
    assert "--check postgres: no such check is configured; set DATABASE_URL" in result.stderr


def test_cli_help_documents_exit_codes() -> None:
    result = _cli("check", "--help")
    assert result.returncode == 0
    for line in ("0  ok", "1  warning", "2  critical", "3  unknown"):
        assert line in result.stdout


def test_the_readme_example_is_a_valid_configuration(repo_root: Path, tmp_path: Path) -> None:
    readme = (repo_root / "services/healthcheck/README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(example)
    settings = load_settings(path)
    assert settings.rq.queues == ["panel-high", "panel"]
    assert [t.name for t in settings.http_targets()] == ["health", "main", "api", "docs"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_secret_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    """Through the library: a FIFO hung the start; REDIS_URL and REDIS_URL_FILE both set let the
    variable win silently (the other services refused it)."""
    stderr = refuses_bad_secret_file(case, [program("panel-health"), "check"], "REDIS_URL", tmp_path, {})
    assert stderr.startswith("panel-health: configuration error: REDIS_URL")
