"""A real reverse proxy for tests: Debian's nginx on loopback, started per test session.

``NginxProxy(upstream_port).start()`` listens on a free 127.0.0.1 port and forwards everything to
``127.0.0.1:upstream_port`` the way an ingress controller does: it appends the client's address to
``X-Forwarded-For`` and sets ``X-Forwarded-Proto`` and ``Host``. Its upstream connections leave from
``source_address`` (default 127.0.0.2), so the app can tell the proxy's own connections apart from a
client that connects directly from 127.0.0.1. Single process (``master_process off``), no privilege
changes, all state in a temporary directory removed by ``stop()``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from support.servers import free_port, wait_for_port

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {base}/client_body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_bind {source};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto {proto};
        }}
    }}
}}
"""


@dataclass
class NginxProxy:
    upstream_port: int
    source_address: str = "127.0.0.2"
    forwarded_proto: str = "$scheme"  # e.g. "https" to stand for an ingress that terminates TLS
    port: int = field(default_factory=free_port)
    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="panel-nginx-")))
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> NginxProxy:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx not found; run `make setup` (installs Debian's nginx)")
        config = self.base_dir / "nginx.conf"
        config.write_text(
            CONFIG.format(
                base=self.base_dir,
                port=self.port,
                upstream=self.upstream_port,
                source=self.source_address,
                proto=self.forwarded_proto,
            )
        )
        self.process = subprocess.Popen(
            [binary, "-p", str(self.base_dir), "-c", str(config), "-e", str(self.base_dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            log = (self.base_dir / "error.log").read_text() if (self.base_dir / "error.log").exists() else ""
            self.stop()
            raise RuntimeError(f"nginx did not start: {log[-2000:]}") from None
        return self

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)
