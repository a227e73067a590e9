"""Start the real panel for the end-to-end load test: migrate, create the admin, gunicorn + RQ worker.

Uses the session PostgreSQL and Redis from tests/conftest.py; everything runs as subprocesses
(`python -m panel.cli ...`), exactly the commands the panel image runs.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from support.servers import free_port


@dataclass(frozen=True)
class RunningPanel:
    url: str
    admin_username: str
    admin_password: str


def _panel(*args: str) -> list[str]:
    return [sys.executable, "-m", "panel.cli", *args]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_panel(database_url: str, redis_url: str, work_dir: Path) -> Iterator[RunningPanel]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    metrics_dir = work_dir / "metrics"
    metrics_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "PANEL_ENV": "testing",
        "PANEL_URL": url,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_hex(32),
        "JWT_SECRET": secrets.token_hex(32),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "UPLOADS_DIR": str(work_dir / "uploads"),
        "CHECK_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    password = secrets.token_urlsafe(18)
    password_file = work_dir / "admin-password"
    password_file.write_text(password + "\n")
    subprocess.run(_panel("migrate"), env=env, check=True, capture_output=True)
    subprocess.run(
        _panel("create-admin", "--username", "admin", "--password-file", str(password_file)),
        env=env,
        check=True,
        capture_output=True,
    )
    logs = work_dir / "panel.log"
    with logs.open("wb") as log:
        web = subprocess.Popen(_panel("web"), env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = subprocess.Popen(_panel("worker"), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if web.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the panel did not become ready:\n" + logs.read_text()[-4000:])
                time.sleep(0.2)
            yield RunningPanel(url, "admin", password)
        finally:
            _stop(web)
            _stop(worker)
