"""The CLI's usage errors: exit code 2, one clear line per problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest_helpers import run_cli


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["run"], {}, "error: LOADTEST_PASSWORD (or LOADTEST_PASSWORD_FILE) is not set"),
        (["run", "--scenario", "soak"], {"LOADTEST_PASSWORD": "x"}, "unknown scenario 'soak'; choose one of"),
        (
            ["run"],
            {"LOADTEST_PASSWORD": "x", "LOADTEST_MAX_ERROR_RATE": "5"},
            "error: LOADTEST_MAX_ERROR_RATE:",
        ),
        (
            ["run", "--locustfile", "/nonexistent/locustfile.py"],
            {"LOADTEST_PASSWORD": "x"},
            "LOADTEST_LOCUSTFILE /nonexistent/locustfile.py does not exist",
        ),
        (["run", "--workers", "2", "--role", "master"], {"LOADTEST_PASSWORD": "x"}, "cannot be combined"),
        (["run", "--duration-scale", "abc"], {"LOADTEST_PASSWORD": "x"}, "'abc' is not a valid float"),
        (
            ["run", "--report-dir", "/proc/loadtest-reports"],
            {"LOADTEST_PASSWORD": "x"},
            "LOADTEST_REPORT_DIR /proc/loadtest-reports is not writable",
        ),
    ],
)
def test_usage_errors_exit_2_with_the_fix(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_cli(args, env, tmp_path / "reports")
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_scenarios_lists_the_packaged_scenarios(tmp_path: Path) -> None:
    result = run_cli(["scenarios"], {}, tmp_path / "reports")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["endurance", "load", "smoke", "spike", "stress"]


def test_help_explains_configuration_and_exit_codes(tmp_path: Path) -> None:
    result = run_cli(["--help"], {}, tmp_path / "reports")
    assert "LOADTEST_PASSWORD[_FILE]" in result.stdout
    assert "99 an SLO threshold was breached" in result.stdout


def test_the_packaged_locustfile_path_is_printed(tmp_path: Path) -> None:
    result = run_cli(["locustfile-path"], {}, tmp_path / "reports")
    assert Path(result.stdout.strip()).name == "locustfile.py"
    assert Path(result.stdout.strip()).is_file()
