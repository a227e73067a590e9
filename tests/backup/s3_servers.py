"""The two S3 implementations the backup suite runs against, and a fault-injecting proxy for either.

- moto's server: an emulator of the S3 API, objects in memory.
- versitygw v1.8.0 (tests/support/versitygw.py): a real S3 gateway storing objects as files.

What differs between them (and from AWS) is recorded on `S3Server` as capabilities and in the backup
README's "S3 implementations" section; tests assert what each server actually does.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from dataclasses import dataclass
from typing import Any

import boto3

S3_KEY_ID = "backup-test-key-id"
S3_SECRET = "backup-test-secret-value"


@dataclass
class S3Server:
    kind: str  # "moto" or "versitygw"
    port: int
    # versitygw v1.8.0 accepts x-amz-server-side-encryption and x-amz-storage-class on writes but
    # stores neither: HEAD answers without the SSE header and with StorageClass STANDARD.
    applies_sse: bool
    applies_storage_class: bool

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

    def keys(self, bucket: str) -> list[str]:
        return [item["Key"] for item in self.client().list_objects_v2(Bucket=bucket).get("Contents", [])]

    def multipart_uploads(self, bucket: str) -> list[dict[str, Any]]:
        uploads: list[dict[str, Any]] = self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return uploads

    def env(self, bucket: str, prefix: str = "panel", endpoint: str | None = None) -> dict[str, str]:
        """The panel-backup settings that point at this server."""
        return {
            "BACKUP_TARGET": f"s3://{bucket}/{prefix}".rstrip("/"),
            "BACKUP_S3_ENDPOINT_URL": endpoint or self.url,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        }


class FaultProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy in front of an S3 server that fails or holds UploadPart requests while told to.

    - `fail_upload_parts = n`: answer the next n UploadPart requests with 500 (-1: all of them).
    - `hold_upload_parts()`: keep UploadPart requests waiting (the upload is then stuck mid-stream,
      deterministically); `held` is set once one waits; `release()` lets them through.
    - `hold_downloads()`: answer a GET of an `.age` object with its first half, then wait for
      `release()` before sending the rest (a download stuck mid-stream).
    """

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.fail_upload_parts = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.held = threading.Event()
        self._holding = False
        self._holding_downloads = False
        self._released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hold_upload_parts(self) -> None:
        self._released.clear()
        self.held.clear()
        self._holding = True

    def hold_downloads(self) -> None:
        self._released.clear()
        self.held.clear()
        self._holding_downloads = True

    def release(self) -> None:
        self._holding = False
        self._holding_downloads = False
        self._released.set()

    def holds_download(self, method: str, path: str) -> bool:
        return self._holding_downloads and method == "GET" and "?" not in path and path.endswith(".age")

    def should_fail(self, method: str, path: str) -> bool:
        if not _is_upload_part(method, path):
            return False
        with self.lock:
            if self.fail_upload_parts == 0:
                return False
            if self.fail_upload_parts > 0:
                self.fail_upload_parts -= 1
            self.failed += 1
            return True

    def wait_if_held(self, method: str, path: str) -> None:
        if self._holding and _is_upload_part(method, path):
            self.held.set()
            self._released.wait(timeout=300)


def _is_upload_part(method: str, path: str) -> bool:
    return method == "PUT" and "partNumber=" in path


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
        self.server.wait_if_held(self.command, self.path)
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
            if self.server.holds_download(self.command, self.path) and len(data) > 1:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.server.held.set()
                self.server._released.wait(timeout=300)
                data = data[len(data) // 2 :]
            self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
