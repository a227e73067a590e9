"""The real panel for the health suite: `panel migrate`, an admin, `panel web` (gunicorn) and `panel worker`
as subprocesses on the session PostgreSQL and Redis."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
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
    metrics_targets: tuple[str, ...]  # host:port of each process that serves panel metrics


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _panel(*args: str) -> list[str]:
    return [sys.executable, "-m", "panel.cli", *args]


@contextmanager
def running_panel(database_url: str, redis_url: str, work_dir: Path) -> Iterator[RunningPanel]:
    port, web_metrics, worker_metrics = free_port(), free_port(), free_port()
    base = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PANEL_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": secrets.token_hex(32),
        "JWT_SECRET": secrets.token_hex(32),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(work_dir / "metrics"),
        "UPLOADS_DIR": str(work_dir / "uploads"),
        "CHECK_INTERVAL_SECONDS": "0",
    }
    password = secrets.token_urlsafe(18)
    password_file = work_dir / "admin-password"
    password_file.write_text(password + "\n")
    for command in (
        _panel("migrate"),
        _panel("create-admin", "--username", "admin", "--password-file", str(password_file)),
    ):
        done = subprocess.run(command, env=base, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    targets: tuple[str, ...]
    if METRICS_ON_OWN_PORT:
        targets = (f"127.0.0.1:{web_metrics}", f"127.0.0.1:{worker_metrics}")
    else:
        targets = (f"127.0.0.1:{port}",)
    log_path = work_dir / "panel.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            _panel("web"),
            env={**base, "METRICS_PORT": str(web_metrics)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            _panel("worker"),
            env={**base, "METRICS_PORT": str(worker_metrics)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if web.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the panel did not become ready:\n" + log_path.read_text()[-3000:])
                time.sleep(0.2)
            yield RunningPanel(f"http://127.0.0.1:{port}", "admin", password, targets)
        finally:
            _stop(worker)
            _stop(web)
