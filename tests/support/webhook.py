"""A real HTTP webhook receiver on loopback: records each POST (path, headers, body) and answers a
configurable status, so tests can check payloads, signatures and retries."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from support.servers import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received: list[Received] = []
        self.statuses: list[int] = []  # answers for the next requests, in order; then 204
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.received.append(Received(self.path, dict(self.headers.items()), body))
            status = self.server.statuses.pop(0) if self.server.statuses else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    server: _Receiver | None = None

    def start(self) -> WebhookReceiver:
        self.server = _Receiver(self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def received(self) -> list[Received]:
        assert self.server is not None
        with self.server.lock:
            return list(self.server.received)

    def answer(self, *statuses: int) -> None:
        assert self.server is not None
        with self.server.lock:
            self.server.statuses[:] = list(statuses)

    def reset(self) -> None:
        assert self.server is not None
        with self.server.lock:
            self.server.received.clear()
            self.server.statuses.clear()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"expected {count} webhook calls within {timeout}s, got {len(self.received)}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
