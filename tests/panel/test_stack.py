"""`panel stack` (what `make up` runs): embedded defaults, printed credentials, Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from support.servers import free_port


def test_stack_runs_signs_in_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    var = tmp_path / "var"
    venv_bin = str(Path(sys.executable).parent)
    # Without the workspace's bin on PATH the companions (panel-health, panel-backup) stay out of it.
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if p != venv_bin)
    env = {**os.environ, "PATH": path or "/usr/bin:/bin", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "JWT_SECRET", "PANEL_ENV"):
        env.pop(name, None)
    stack = subprocess.Popen(
        [sys.executable, "-m", "panel.cli", "stack", "--port", str(port), "--var-dir", str(var)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C would signal
    )
    output: list[str] = []
    try:
        assert stack.stdout is not None
        while not any("password:" in line for line in output):
            line = stack.stdout.readline()
            assert line, "the stack exited early:\n" + "".join(output)
            output.append(line)
        text = "".join(output)
        password = re.search(r"password: (\S+)", text).group(1)  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}" in text
        _wait_ready(port, stack)
        token = requests.post(
            f"http://127.0.0.1:{port}/api/v2/auth/token",
            json={"username": "admin", "password": password},
            timeout=30,
        )
        assert token.status_code == 200
        assert (var / "panel.db").exists()
        for secret in ("secret_key", "jwt_secret"):
            assert (var / secret).stat().st_mode & 0o777 == 0o600
        os.killpg(stack.pid, signal.SIGINT)
        assert stack.wait(90) in (0, 130), "".join(output)  # 130: stopped by Ctrl-C, as a shell reports it
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(var) not in ps, "a process of the stack outlived Ctrl-C"


def _start_stack(var: Path, port: int) -> subprocess.Popen[str]:
    venv_bin = str(Path(sys.executable).parent)
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if p != venv_bin)
    env = {**os.environ, "PATH": path or "/usr/bin:/bin", "WEB_CONCURRENCY": "1"}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "JWT_SECRET", "PANEL_ENV", "LOG_LEVEL"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "panel.cli", "stack", "--port", str(port), "--var-dir", str(var)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(stack: subprocess.Popen[str], marker: str) -> str:
    assert stack.stdout is not None
    output: list[str] = []
    while not any(marker in line for line in output):
        line = stack.stdout.readline()
        assert line, "the stack exited early:\n" + "".join(output)
        output.append(line)
    return "".join(output)


def _wait_ready(port: int, stack: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline and stack.poll() is None, "the stack never became ready"
        time.sleep(0.5)


def _stack_processes(var: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if str(var) in line]


def test_stack_is_quiet_private_and_stops_when_its_output_pipe_is_gone(tmp_path: Path) -> None:
    """`make up 2>&1 | tee log`, then Ctrl-C: tee dies first, and every process must still stop."""
    var, port = tmp_path / "var", free_port()
    stack = _start_stack(var, port)
    try:
        banner = _read_until(stack, "password:")
        before_banner = banner.split("Panel is starting", 1)[0]
        assert "alembic" not in before_banner and "Traceback" not in banner, before_banner
        _wait_ready(port, stack)
        for path in var.glob("panel.db*"):
            assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        assert stack.stdout is not None
        stack.stdout.close()  # the reading end of the pipe goes away, as tee's does on Ctrl-C
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(90)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "the stack hung after Ctrl-C:\n" + "\n".join(_stack_processes(var))
            ) from None
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    deadline = time.monotonic() + 30
    while _stack_processes(var) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _stack_processes(var), "processes of the stack outlived Ctrl-C"

    again = _start_stack(var, port)
    try:
        hint = _read_until(again, "lost them?")
        assert "Traceback" not in hint and "create-admin --username admin2" in hint
        assert f"DATABASE_URL=sqlite:///{var}/panel.db" in hint
        _wait_ready(port, again)  # (honcho ignores a Ctrl-C that lands while it is still spawning)
        os.killpg(again.pid, signal.SIGINT)
        again.wait(90)
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
            again.wait()
