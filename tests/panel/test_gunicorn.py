"""`panel web` under real gunicorn with two workers: /metrics on METRICS_PORT adds up every worker's
requests, and the app port serves no /metrics (contract C2)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from panel_helpers import migrate
from support.servers import free_port, wait_for_port

LIVEZ_200 = re.compile(
    r'^panel_http_requests_total\{endpoint="/livez",method="GET",status="200"\} (\S+)$', re.M
)


def test_two_workers_share_one_metrics_view(
    postgres_database: str, redis_url: str, make_settings_env: dict[str, str], tmp_path: Path
) -> None:
    migrate(postgres_database)
    port, metrics_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # left over from a previous run
    env = {
        **os.environ,
        **make_settings_env,
        "DATABASE_URL": postgres_database,
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": "2",
        "WEB_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_PORT": str(metrics_port),
        "METRICS_ADDRESS": "127.0.0.1",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "panel.cli", "web"], env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_answering(port, web)
        time.sleep(0.5)
        assert not (metrics_dir / "counter_999999.db").exists(), "stale metric files must be cleared"
        sent = 0
        # Fresh connection per request, until both workers have answered some (bounded).
        while sent < 400:
            response = requests.get(f"{base}/livez", headers={"Connection": "close"}, timeout=30)
            assert response.status_code == 200
            sent += 1
            pids = {p.name.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
            if len(pids) >= 2 and sent >= 20:
                break
        assert len(pids) >= 2, "only one gunicorn worker ever answered"
        # Each scrape may be served by either worker; all must report the total of both.
        for _ in range(6):
            text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
            match = LIVEZ_200.search(text)
            assert match is not None, text[:500]
            assert float(match.group(1)) == sent
        assert requests.get(f"{base}/metrics", timeout=30).status_code == 404
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.headers["X-Request-ID"]
    finally:
        _stop(web)
    assert web.returncode == 0, web.stderr.read() if web.stderr else ""


def _wait_answering(port: int, web: subprocess.Popen[str]) -> None:
    """Until gunicorn answers (its workers import the app after binding; slow on a busy machine)."""
    wait_for_port(port, timeout=60)
    deadline = time.monotonic() + 180
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)  # not /livez: counted elsewhere
            return
        except requests.RequestException:
            assert time.monotonic() < deadline and web.poll() is None, "gunicorn never answered"
            time.sleep(0.5)


def _stop(web: subprocess.Popen[str]) -> None:
    web.send_signal(signal.SIGTERM)
    try:
        web.wait(30)
    except subprocess.TimeoutExpired:
        web.kill()
        web.wait()


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, payload


def test_gunicorn_errors_are_problem_json_and_each_request_is_logged_once(
    tmp_path: Path, redis_url: str, make_settings_env: dict[str, str]
) -> None:
    """Issue 12, items 11 and 12: gunicorn's own 400/431 answers, and no second access log line."""
    database_url = f"sqlite:///{tmp_path}/panel.db"
    migrate(database_url)
    port = free_port()
    env = {
        **os.environ,
        **make_settings_env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": "1",
        "WEB_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_LEVEL": "INFO",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "panel.cli", "web"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_answering(port, web)
        for request, expected in (
            (b"THIS IS NOT HTTP\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ):
            status, headers, payload = _raw(port, request)
            assert status in (expected, 400), (status, payload[:200])
            assert headers["Content-Type"] == "application/problem+json"
            problem = json.loads(payload)
            assert problem["status"] == status and problem["title"]
        answered = requests.get(
            f"http://127.0.0.1:{port}/api/v2/servers", headers={"X-Request-ID": "log-me-once"}, timeout=30
        )
        assert answered.status_code == 401
    finally:
        _stop(web)
    log = web.stderr.read() if web.stderr else ""
    lines = [line for line in log.splitlines() if "log-me-once" in line or "/api/v2/servers" in line]
    assert len(lines) == 1, lines
    assert '"logger": "panel.access"' in lines[0]
    assert "gunicorn.access" not in log
