"""Settings from the environment: defaults, *_FILE secrets, and readable validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from panel_loadtest.settings import SettingsError, load_settings
from support.bad_secret_files import CASES, program, refuses_bad_secret_file


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LOADTEST_") or name == "PANEL_URL":
            monkeypatch.delenv(name)


def test_defaults_are_the_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    settings, thresholds = load_settings()
    assert (
        thresholds.max_avg_ms,
        thresholds.max_error_rate,
        thresholds.min_rps,
        thresholds.min_rps_users,
    ) == (500.0, 0.01, 100.0, 50)
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.scenario == "smoke"


def test_the_password_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("LOADTEST_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("PANEL_URL", "http://panel.example:8000/")
    settings, _ = load_settings()
    assert settings.admin_password() == "from-a-file"
    assert settings.base_url == "http://panel.example:8000"
    assert "from-a-file" not in repr(settings)


def test_a_missing_password_names_both_variables() -> None:
    settings, _ = load_settings()
    with pytest.raises(SettingsError, match=r"LOADTEST_PASSWORD \(or LOADTEST_PASSWORD_FILE\) is not set"):
        settings.admin_password()


def test_each_bad_value_gets_one_line_naming_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANEL_URL", "not a url")
    monkeypatch.setenv("LOADTEST_MAX_ERROR_RATE", "5")
    monkeypatch.setenv("LOADTEST_DURATION_SCALE", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    problems = caught.value.problems
    assert any(p.startswith("PANEL_URL:") for p in problems)
    assert any(p.startswith("LOADTEST_MAX_ERROR_RATE:") and "1" in p for p in problems)
    assert any(p.startswith("LOADTEST_DURATION_SCALE:") for p in problems)


def test_an_unreadable_password_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOADTEST_PASSWORD_FILE", str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match=r"LOADTEST_PASSWORD_FILE: cannot read .*nope \(No such file"):
        load_settings()


@pytest.mark.parametrize("case", CASES)
def test_a_bad_password_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    """Through the library: a non-UTF-8 LOADTEST_PASSWORD_FILE was a traceback, a FIFO hung the start,
    and LOADTEST_PASSWORD beside it won silently."""
    refuses_bad_secret_file(
        case,
        [program("panel-loadtest"), "run", "--report-dir", str(tmp_path / "reports")],
        "LOADTEST_PASSWORD",
        tmp_path,
        {"PANEL_URL": "http://127.0.0.1:9", "LOADTEST_READY_TIMEOUT": "0"},
    )
