"""Benchmark of `panel-health serve`: scrape latency and CPU per scrape with healthy dependencies, and the
scrape duration with one dependency black-holed (it must stay within Prometheus's scrape timeout).

Starts its own PostgreSQL, Redis (tests/support/servers.py), a local HTTP server standing in for the
panel, a TCP black hole, and the exporter as a subprocess (so its CPU time can be read from /proc).

    uv run --frozen python services/healthcheck/benchmarks/bench_exporter.py [--scrapes 100]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from support.servers import PostgresServer, RedisServer, free_port, wait_for_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def fake_panel() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)  # accepted by the kernel, never read: a hung dependency
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def exporter(config: Mapping[str, object], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panel_health",
            "--log-level",
            "ERROR",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, "PANEL_HEALTH_CONFIG": handle.name, **env},
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(10)
        os.unlink(handle.name)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def scrape_series(url: str, count: int, timeout_header: str) -> list[float]:
    durations = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(
                f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": timeout_header}
            )
            durations.append(time.perf_counter() - started)
            response.raise_for_status()
    return durations


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scrapes", type=int, default=100, help="scrapes with healthy dependencies")
    parser.add_argument("--hung-scrapes", type=int, default=5, help="scrapes with PostgreSQL black-holed")
    parser.add_argument("--scrape-timeout", type=float, default=2.0, help="header value for the hung scrapes")
    args = parser.parse_args()

    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    try:
        with fake_panel() as panel_url, black_hole() as hole_port:
            base = {
                "panel_url": panel_url,
                "resources": {"disk_paths": ["/tmp"]},  # noqa: S108
                "rq": {"require_workers": False},
            }
            healthy_env = {"DATABASE_URL": postgres.url(), "REDIS_URL": redis_server.url()}
            with exporter(base, healthy_env) as (url, pid):
                scrape_series(url, 5, "10")  # warm-up: imports, first CPU sample
                cpu_before = cpu_seconds(pid)
                healthy = scrape_series(url, args.scrapes, "10")
                cpu_per_scrape = (cpu_seconds(pid) - cpu_before) / args.scrapes
            hung_config = {**base, "postgres": {"timeout_seconds": 60}}
            hung_env = {**healthy_env, "DATABASE_URL": f"postgresql://u:p@127.0.0.1:{hole_port}/db"}
            with exporter(hung_config, hung_env) as (url, _):
                hung = scrape_series(url, args.hung_scrapes, str(args.scrape_timeout))
    finally:
        postgres.stop()
        redis_server.stop()

    print("panel-health exporter benchmark (checks: 3 HTTP, PostgreSQL, Redis, RQ, resources)")
    print(f"  healthy scrapes:            n={len(healthy)}")
    print(f"    latency p50:              {pct(healthy, 0.50) * 1000:8.1f} ms")
    print(f"    latency p99:              {pct(healthy, 0.99) * 1000:8.1f} ms")
    print(f"    latency mean:             {statistics.fmean(healthy) * 1000:8.1f} ms")
    print(f"    exporter CPU per scrape:  {cpu_per_scrape * 1000:8.1f} ms")
    deadline = args.scrape_timeout - 0.5
    print(
        f"  PostgreSQL black-holed:     n={len(hung)}, scrape timeout {args.scrape_timeout:g}s, "
        f"deadline {deadline:g}s"
    )
    print(f"    scrape duration p50:      {pct(hung, 0.50) * 1000:8.1f} ms")
    print(f"    scrape duration max:      {max(hung) * 1000:8.1f} ms")
    within = max(hung) < args.scrape_timeout
    print(f"    within the scrape timeout: {'yes' if within else 'NO'}")
    if not within:
        sys.exit(1)


if __name__ == "__main__":
    main()
