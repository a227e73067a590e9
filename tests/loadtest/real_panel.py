"""Start the real panel for the end-to-end load test: migrate, create the admin, gunicorn + RQ worker.

Uses the session PostgreSQL and Redis from tests/conftest.py; everything runs as subprocesses
(`python -m panel.cli ...`), exactly the commands the panel image runs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from support.servers import free_port


@dataclass(frozen=True)
class RunningPanel:
    url: str
    admin_username: str
    admin_password: str
    web_process_group: int = 0  # gunicorn's master and workers: SIGSTOP it to freeze the web


class _DiscoveryHandler(BaseHTTPRequestHandler):
    """Serves only an OpenID Connect discovery document: enough for the panel to build its redirect.

    The load test never completes a sign-in at the provider (it tests the panel's side), so no
    token or JWKS endpoint has to work.
    """

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        issuer = f"http://{self.headers['Host']}"  # the address the panel was given
        if self.path != "/.well-known/openid-configuration":
            self.send_error(404)
            return
        body = json.dumps(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def discovery_only_provider() -> Iterator[str]:
    """An identity provider's discovery endpoint on loopback; yields its issuer URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscoveryHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
    database_url: str, redis_url: str, work_dir: Path, oidc_issuer: str | None = None
) -> Iterator[RunningPanel]:
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
    if oidc_issuer is not None:
        env.update(
            {
                "OIDC_ISSUER_URL": oidc_issuer,
                "OIDC_CLIENT_ID": "panel-loadtest",
                "OIDC_CLIENT_SECRET": "not-used",
            }
        )
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
        web = subprocess.Popen(
            _panel("web"), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
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
            yield RunningPanel(url, "admin", password, web.pid)
        finally:
            _stop(web)
            _stop(worker)
