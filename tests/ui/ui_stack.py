"""The panel as the browser suite sees it: real gunicorn (`panel web`) and a real RQ worker
(`panel worker`) on PostgreSQL and Redis, plus direct database access for seeding test data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from panel import schema
from panel.auth.passwords import hash_password
from panel.cache import GENERATION_KEY
from panel.db import make_engine
from panel.models import NotificationChannel, NotificationDelivery, Server, User
from panel.settings import load_settings
from panel.user_cache import GENERATION_KEY as USERS_GENERATION_KEY
from sqlalchemy import Engine, delete, text
from sqlalchemy.orm import Session
from support.servers import free_port, wait_for_port

SECRET = "ui-test-secret-0123456789-0123456789-abcdef"
PASSWORD = "ui-test-password-0123"
# Debian's Chromium as the suite and the screenshots launch it (by path; nothing is downloaded).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}  # browser viewports of the suite and the screenshots
PHONE = {"width": 375, "height": 740}


@dataclass
class PanelStack:
    database_url: str
    redis_url: str
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="panel-ui-stack-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    engine: Engine | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        metrics = self.workdir / "metrics"
        metrics.mkdir(exist_ok=True)
        return {
            **os.environ,
            "PANEL_ENV": "testing",
            "PANEL_URL": self.url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": SECRET,
            "JWT_SECRET": SECRET[::-1],
            "CHECK_INTERVAL_SECONDS": "0",
            "CHECK_TIMEOUT_SECONDS": "2",
            "UI_REFRESH_SECONDS": "1",
            "LOGIN_RATE_LIMIT": "1000",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "METRICS_PORT": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }

    def start(self) -> PanelStack:
        self.engine = make_engine(load_settings(environ={}, database_url=self.database_url))
        schema.upgrade(self.engine)
        for command in ("web", "worker"):
            log = (self.workdir / f"{command}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "panel.cli", command], env=self.env(), stdout=log, stderr=log
                )
            )
        wait_for_port(self.port, timeout=120)
        deadline = time.monotonic() + 180  # gunicorn workers import the app after binding; slow when busy
        while True:
            try:
                if requests.get(f"{self.url}/login", timeout=30).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"the panel did not start; logs in {self.workdir}")
            time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.engine is not None:
            self.engine.dispose()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        assert self.engine is not None
        with Session(self.engine) as session:
            yield session
            session.commit()

    def reset(self) -> None:
        """Empty the panel's tables between tests (users, servers and everything hanging off them).

        Ids keep counting (no RESTART IDENTITY), so no user id is reused while Redis still caches the
        auth state of an earlier user; cached list pages are dropped by bumping the cache generation.
        """
        with self.session() as session:
            session.execute(text("TRUNCATE audit_log, servers, users CASCADE"))
        client = redis.Redis.from_url(self.redis_url)
        client.incr(GENERATION_KEY)
        client.incr(USERS_GENERATION_KEY)
        client.close()

    def user(self, username: str, role: str, password: str = PASSWORD) -> dict[str, str]:
        with self.session() as session:
            session.add(
                User(username=username, role=role, password_hash=hash_password(password), is_active=True)
            )
        return {"username": username, "password": password}

    def servers(self, count: int, **fields: Any) -> list[int]:
        with self.session() as session:
            rows = []
            for number in range(count):
                server = Server(
                    name=fields.get("name", f"node-{number:05d}"),
                    address=fields.get(
                        "address", f"10.{number // 62500}.{number // 250 % 250}.{number % 250 + 1}"
                    ),
                    port=fields.get("port", 22),
                    protocol=fields.get("protocol", "tcp"),
                    owner=fields.get("owner"),
                )
                server.set_tags(fields.get("tags", []))
                session.add(server)
                rows.append(server)
            session.flush()
            return [server.id for server in rows]

    def notifications(self, server_id: int) -> None:
        """A global email channel, a webhook for ``server_id`` and a failed delivery to it."""
        with self.session() as session:
            email = NotificationChannel(kind="email", target="oncall@example.org", enabled=True)
            hook = NotificationChannel(
                kind="webhook",
                target="https://hooks.example.org/a/very/long/path/for/panel",
                server_id=server_id,
            )
            session.add_all([email, hook])
            session.flush()
            details = {"server": {"id": server_id, "name": "phone-01"}}
            session.add(
                NotificationDelivery(
                    channel_id=hook.id,
                    server_id=server_id,
                    event="down",
                    details=details,
                    status="failed",
                    attempts=4,
                    last_error="POST https://hooks.example.org/a/very/long/path/for/panel: HTTP 502",
                )
            )

    def delete_servers(self) -> None:
        with self.session() as session:
            session.execute(delete(Server))
