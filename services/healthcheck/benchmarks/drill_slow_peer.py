"""Drill: the exporter scraped for minutes while two dependencies drip one byte every 0.5 s (issue 15 item 1).

An HTTP target and a TLS target that answer a byte at a time never trip a per-read timeout. The exporter
runs as a subprocess and is scraped like Prometheus would (every --interval seconds, 2 s scrape timeout);
every 10 s its thread count and open sockets are read from /proc. Before the total per-check deadline
both grew by one per check per scrape (25 to 121 threads in 98 s); they must stay flat.

    uv run --frozen python services/healthcheck/benchmarks/drill_slow_peer.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests/healthcheck"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exporter import exporter  # noqa: E402
from health_servers import DripServer  # noqa: E402


def threads_and_sockets(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
    sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            sockets += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return threads, sockets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes")
    parser.add_argument("--drip", type=float, default=0.5, help="seconds between the peers' bytes")
    args = parser.parse_args()

    http_peer = DripServer(interval=args.drip)
    tls_peer = DripServer(interval=args.drip, payload=DripServer.TLS_RECORD)
    config = {
        "http": {"include_panel_defaults": False, "targets": [{"name": "drip", "url": http_peer.url}]},
        "tls": {"targets": [{"name": "drip", "host": "127.0.0.1", "port": tls_peer.port}]},
        "resources": {"enabled": False},
    }
    samples: list[tuple[float, int, int]] = []
    scrapes = 0
    try:
        with exporter(config, {}) as (url, pid), httpx.Client(timeout=30) as client:
            started = time.monotonic()
            next_sample = started
            while time.monotonic() - started < args.minutes * 60:
                response = client.get(f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
                response.raise_for_status()
                scrapes += 1
                if time.monotonic() >= next_sample:
                    samples.append((time.monotonic() - started, *threads_and_sockets(pid)))
                    next_sample += 10
                time.sleep(args.interval)
            samples.append((time.monotonic() - started, *threads_and_sockets(pid)))
    finally:
        http_peer.close()
        tls_peer.close()

    threads = [t for _, t, _ in samples]
    sockets = [s for _, _, s in samples]
    print(
        f"slow-peer drill: {args.minutes:g} min, {scrapes} scrapes, peers drip a byte every {args.drip:g} s"
    )
    print(f"  exporter threads:      first {threads[0]}, max {max(threads)}, last {threads[-1]}")
    print(f"  exporter open sockets: first {sockets[0]}, max {max(sockets)}, last {sockets[-1]}")
    print(
        f"  peers' connections:    {http_peer.accepted + tls_peer.accepted} accepted, peak open at once "
        f"{http_peer.peak_connections} (HTTP) / {tls_peer.peak_connections} (TLS)"
    )
    bounded = max(threads) <= threads[0] + 4 and max(sockets) <= sockets[0] + 4
    print(f"  bounded: {'yes' if bounded else 'NO'}")
    if not bounded:
        sys.exit(1)


if __name__ == "__main__":
    main()
