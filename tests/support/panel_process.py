"""The real panel as subprocesses for end-to-end tests: `panel migrate`, an admin from `panel create-admin`,
`panel web` (gunicorn) and `panel worker` (RQ), exactly the commands the panel image runs, on the session
PostgreSQL and Redis from tests/conftest.py. Used by the health and the load-test suites."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.servers import free_port

# Contract C2 moves the panel's /metrics to a listener of its own on METRICS_PORT, for the web and the
# worker. Until that lands in main the web serves /metrics on its app port and the worker serves none:
# flip this one setting after the merge and the tests scrape web and worker on their metrics ports.
METRICS_ON_OWN_PORT = False


@dataclass(frozen=True)
class RunningPanel:
    url: str
    admin_username: str
    admin_password: str
    web_process_group: int  # gunicorn's master and workers: os.killpg(..., SIGSTOP) freezes the web
    metrics_targets: tuple[str, ...]  # host:port of each process that serves the panel's metrics


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
def running_panel(
    database_url: str, redis_url: str, work_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningPanel]:
    port, web_metrics, worker_metrics = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
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
        "PROMETHEUS_MULTIPROC_DIR": str(work_dir / "metrics"),
        "UPLOADS_DIR": str(work_dir / "uploads"),
        "CHECK_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    password = secrets.token_urlsafe(18)
    password_file = work_dir / "admin-password"
    password_file.write_text(password + "\n")
    create_admin = _panel("create-admin", "--username", "admin", "--password-file", str(password_file))
    for command in (_panel("migrate"), create_admin):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[2:])} failed:\n{done.stderr[-3000:]}")
    targets: tuple[str, ...] = (
        (f"127.0.0.1:{web_metrics}", f"127.0.0.1:{worker_metrics}")
        if METRICS_ON_OWN_PORT
        else (f"127.0.0.1:{port}",)
    )
    log_path = work_dir / "panel.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            _panel("web"),
            env={**env, "METRICS_PORT": str(web_metrics)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = subprocess.Popen(
            _panel("worker"),
            env={**env, "METRICS_PORT": str(worker_metrics)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if web.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the panel did not become ready:\n" + log_path.read_text()[-4000:])
                time.sleep(0.2)
            yield RunningPanel(url, "admin", password, web.pid, targets)
        finally:
            _stop(worker)
            _stop(web)
