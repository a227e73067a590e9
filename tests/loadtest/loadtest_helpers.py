"""Shared helpers for the load-test suite (a uniquely named module: every suite has a conftest).

Locust monkey-patches the process with gevent on import, so this suite never imports it:
every Locust run happens in a subprocess started through the ``panel-loadtest`` CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ADMIN_PASSWORD = "contract-admin-password-1"
# Tests must not depend on timing: latency bounds far beyond any machine's worst case, so a run
# that should pass only fails on errors. Tests about latency verdicts set their own bounds.
UNTIMED_THRESHOLDS = {
    "LOADTEST_MAX_AVG_MS": "600000",
    "LOADTEST_MAX_P95_MS": "600000",
    "LOADTEST_MAX_P99_MS": "600000",
}


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(args: list[str], env: dict[str, str], report_dir: Path, timeout: float = 120) -> RunResult:
    """Run ``panel-loadtest`` in a subprocess with a clean LOADTEST_* environment plus ``env``.

    It runs in ``report_dir``'s parent, so a default ``loadtest-reports`` never lands in the repository.
    """
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_") and k != "PANEL_URL"}
    completed = subprocess.run(
        [sys.executable, "-m", "panel_loadtest", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=report_dir.parent,
    )
    return RunResult(completed.returncode, completed.stdout, completed.stderr, report_dir)
