"""Session servers for the backup suite, all on loopback: two S3 implementations (moto's server and
versitygw) with a fault-injecting HTTP proxy in front of either, an aiosmtpd SMTP server and a webhook
receiver."""

from __future__ import annotations

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

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result
from panel_backup.cli import main
from support.servers import free_port, wait_for_port
from support.versitygw import VersityGateway

from .s3_servers import S3_KEY_ID, S3_SECRET, FaultProxy, S3Server


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: never let the caller's shell leak into a test."""
    for name in list(os.environ):
        if name.startswith(("BACKUP_", "AWS_", "PG")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield S3Server("moto", port, applies_sse=True, applies_storage_class=True)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def versitygw_server() -> Iterator[S3Server]:
    gateway = VersityGateway(access_key=S3_KEY_ID, secret_key=S3_SECRET).start()
    try:
        yield S3Server("versitygw", gateway.port, applies_sse=False, applies_storage_class=False)
    finally:
        gateway.stop()


@pytest.fixture(params=["moto", "versitygw"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 test runs against both implementations (see s3_servers.py for how they differ)."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def fault_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server.port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.release()
    proxy.shutdown()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = f"backups-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=name)
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
