"""`<NAME>_FILE` secrets that once broke a service's start, run through the service's own CLI.

Every service reads its secrets through `service_settings`, so each one refuses these the same way:
exit 2 and one line naming the variable and the fix, no traceback, never a hang. A service's suite
calls `refuses_bad_secret_file(case, argv, variable, tmp_path, env)` for each of `CASES`.

- ``latin1``: the file is not UTF-8 (a traceback before the library).
- ``fifo``: the path is a FIFO; reading it blocked the start forever (before the library).
- ``both``: ``<NAME>`` and ``<NAME>_FILE`` are both set; nobody can tell which one is meant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def program(name: str) -> str:
    """The path of a console script installed beside the running interpreter (the workspace's venv)."""
    return str(Path(sys.executable).parent / name)


CASES = ("latin1", "fifo", "both")
# Long enough for a cold interpreter on a loaded CI machine; a FIFO read never ends at all.
START_DEADLINE = 120
EXIT_CONFIG = 2

EXPECTED = {
    "latin1": "is not UTF-8 text",
    "fifo": "is not a regular file",
    "both": "are both set; unset one of them",
}


def prepare(case: str, variable: str, tmp_path: Path) -> dict[str, str]:
    """The environment that sets ``variable`` (a secret) the ``case`` way."""
    path = tmp_path / f"{case}-secret"
    if case == "latin1":
        path.write_bytes(b"caf\xe9-secret-value\n")
        return {f"{variable}_FILE": str(path)}
    if case == "fifo":
        os.mkfifo(path)
        return {f"{variable}_FILE": str(path)}
    if case == "both":
        path.write_text("from-the-file-1234\n")
        return {variable: "from-the-variable-1234", f"{variable}_FILE": str(path)}
    raise ValueError(f"unknown case {case!r}; use one of {CASES}")


def refuses_bad_secret_file(
    case: str, argv: list[str], variable: str, tmp_path: Path, env: dict[str, str]
) -> str:
    """Run ``argv`` with ``env`` plus the ``case`` secret; assert exit 2, one line naming
    ``<variable>_FILE`` and no traceback. Returns stderr (for service-specific checks)."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        **env,
        **prepare(case, variable, tmp_path),
    }
    try:
        result = subprocess.run(
            argv, env=environ, capture_output=True, text=True, timeout=START_DEADLINE, check=False
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{argv[0]} did not finish within {START_DEADLINE} s ({case})") from None
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == EXIT_CONFIG, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if f"{variable}_FILE" in line]
    assert len(lines) == 1 and EXPECTED[case] in lines[0], result.stderr
    assert "from-the-variable-1234" not in result.stderr and "from-the-file-1234" not in result.stderr
    return result.stderr
