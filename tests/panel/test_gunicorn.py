"""`panel web` under real gunicorn with two workers: /metrics on METRICS_PORT adds up every worker's
requests, and the app port serves no /metrics (contract C2)."""

from __future__ import annotations

import os
import re
import signal
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
        wait_for_port(port, timeout=60)
        deadline = time.monotonic() + 180  # workers import the app after binding; slow on a busy machine
        while True:
            try:
                requests.get(f"{base}/readyz", timeout=30)  # not /livez: that one is counted below
                break
            except requests.RequestException:
                assert time.monotonic() < deadline and web.poll() is None, "gunicorn never answered"
                time.sleep(0.5)
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
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
    assert web.returncode == 0, web.stderr.read() if web.stderr else ""
