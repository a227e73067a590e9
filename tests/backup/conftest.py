"""Session servers for the backup suite: moto's S3 server over HTTP, a fault-injecting HTTP proxy in
front of it, an aiosmtpd SMTP server and a webhook receiver, all on loopback."""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result
from panel_backup.cli import main
from support.servers import free_port, wait_for_port

S3_KEY_ID = "backup-test-key-id"
S3_SECRET = "backup-test-secret-value"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: never let the caller's shell leak into a test."""
    for name in list(os.environ):
        if name.startswith(("BACKUP_", "AWS_", "PG")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)


@dataclass
class MotoServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, endpoint: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.url,
            region_name="us-east-1",
            aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET,
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield MotoServer(port, process)
    finally:
        process.terminate()
        process.wait(10)


class FaultProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy in front of moto that answers UploadPart requests with 500 while told to."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.fail_upload_parts = 0  # how many UploadPart requests to fail; -1 = all
        self.failed = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def should_fail(self, method: str, path: str) -> bool:
        if method != "PUT" or "partNumber=" not in path:
            return False
        with self.lock:
            if self.fail_upload_parts == 0:
                return False
            if self.fail_upload_parts > 0:
                self.fail_upload_parts -= 1
            self.failed += 1
            return True


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _handle(self) -> None:
        body = self._body()
        if self.server.should_fail(self.command, self.path):
            payload = (
                b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>injected</Message></Error>"
            )
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")
        }
        headers["Content-Length"] = str(len(body))
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(key, value)
        length = response.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


@pytest.fixture(scope="session")
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    name = f"backups-{uuid.uuid4().hex[:10]}"
    moto_server.client().create_bucket(Bucket=name)
    return name


@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email

        self.mailbox.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    username: str = "backup-mailer"
    password: str = "smtp-test-password"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    server = SmtpServer(free_port(), mailbox)

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == server.username
            and (auth_data.password.decode() == server.password)
        )
        if ok:
            mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        _Handler(mailbox),
        hostname="127.0.0.1",
        port=server.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Mailbox:
    smtp_server.mailbox.messages.clear()
    smtp_server.mailbox.logins.clear()
    return smtp_server.mailbox


class WebhookReceiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.payloads: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    server: WebhookReceiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.payloads.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()


@dataclass
class AgeKey:
    path: Path
    public: str


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    from panel_backup.crypto import generate_key_file

    path = tmp_path_factory.mktemp("keys") / "backup-key.txt"
    return AgeKey(path, generate_key_file(path))


@pytest.fixture
def run_cli() -> Any:
    """Run panel-backup in-process with exactly the given environment."""

    def run(args: list[str], env: dict[str, str]) -> Result:
        runner = CliRunner()
        return runner.invoke(main, args, env=env, catch_exceptions=False)

    return run
