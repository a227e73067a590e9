"""Fixtures for the load-test suite: the contract server and a `panel-loadtest run` launcher."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contract_server import ContractServer
from loadtest_helpers import ADMIN_PASSWORD, UNTIMED_THRESHOLDS, RunResult, run_cli


@pytest.fixture
def contract_server() -> Iterator[ContractServer]:
    with ContractServer(ADMIN_PASSWORD) as server:
        yield server


@pytest.fixture
def run_loadtest(tmp_path: Path) -> Callable[..., RunResult]:
    """Call with (server_url, *cli args, **env overrides); runs `panel-loadtest run` headless."""

    def _run(url: str, *args: str, password: str = ADMIN_PASSWORD, **env: str) -> RunResult:
        report_dir = tmp_path / "reports"
        full_env = {
            "PANEL_URL": url,
            "LOADTEST_PASSWORD": password,
            "LOADTEST_READY_TIMEOUT": "5",
            **UNTIMED_THRESHOLDS,
            **env,
        }
        return run_cli(["run", "--report-dir", str(report_dir), *args], full_env, report_dir)

    return _run
