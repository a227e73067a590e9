"""Small real servers on loopback for the health tests: HTTP, HTTPS with generated certificates, and a
TCP black hole that accepts connections and never answers."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _PanelLikeHandler(BaseHTTPRequestHandler):
    """Answers like the panel's public endpoints, plus a few misbehaving paths for the tests."""

    counter = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        routes = {
            "/readyz": (200, "application/json", b'{"status":"ok"}'),
            "/livez": (200, "application/json", b'{"status":"ok"}'),
            "/": (200, "text/html", b"<html><title>Panel</title></html>"),
            "/api/v2/openapi.json": (200, "application/json", b'{"openapi":"3.1.0"}'),
            "/broken": (500, "text/plain", b"boom"),
        }
        if self.path == "/slow":
            time.sleep(0.3)
            self._send(200, "text/plain", b"slow")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/readyz")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/flaky":
            with self.lock:
                type(self).counter += 1
                failing = type(self).counter % 2 == 0
            self._send(503 if failing else 200, "text/plain", b"flaky")
        elif self.path in routes:
            self._send(*routes[self.path])
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def panel_like_http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PanelLikeHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class BlackHole:
    """Accepts TCP connections and never reads or writes: the classic hung dependency."""

    port: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = self._sock.accept()
                self._held.append(conn)  # keep it open, say nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self._sock.close()


def make_certificate(
    directory: Path, name: str, days_valid: float, dns_names: list[str]
) -> tuple[Path, Path]:
    """A self-signed leaf certificate valid from yesterday for ``days_valid`` days from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    san.append(x509.IPAddress(ipaddress.ip_address("127.0.0.2")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days_valid))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class TlsServer:
    """Completes TLS handshakes with the given certificate, then hangs up."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_path, key_path)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            with contextlib.suppress(OSError), self._context.wrap_socket(conn, server_side=True):
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


class DripServer:
    """An HTTP peer that answers one byte at a time, every ``interval`` seconds, for ``total_seconds``.

    Each byte arrives well within any per-read timeout, so only a deadline on the whole request stops a
    client. ``open_connections`` / ``peak_connections`` tell whether clients hang up (and how many pile up).
    """

    HTTP_RESPONSE = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
    )
    # A TLS handshake record announcing 16 KiB, then its bytes one by one: the handshake never completes.
    TLS_RECORD = b"\x16\x03\x03\x40\x00" + b"\x00" * 16384

    def __init__(
        self, interval: float = 0.2, total_seconds: float = 3600.0, payload: bytes = HTTP_RESPONSE
    ) -> None:
        self.interval = interval
        self.payload = payload
        self.total_seconds = total_seconds
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self.open_connections = 0
        self.peak_connections = 0
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self.accepted += 1
                self.open_connections += 1
                self.peak_connections = max(self.peak_connections, self.open_connections)
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        ends = time.monotonic() + self.total_seconds
        try:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request
            for byte in self.payload:
                if self._stop.is_set() or time.monotonic() > ends:
                    break
                conn.sendall(bytes([byte]))  # raises once the client has hung up
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open_connections -= 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
