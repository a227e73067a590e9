"""Peers that answer, but too slowly to ever finish: a per-read timeout never fires, so only a deadline
on the whole check keeps the exporter's threads and connections bounded (issue 15 item 1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from health_servers import DripServer
from panel_health.exporter import HealthExporter
from panel_health.settings import HealthSettings

Runner = Callable[[HealthSettings], tuple[str, HealthExporter]]
SCRAPES = 20


@pytest.fixture
def drip_http() -> Iterator[DripServer]:
    server = DripServer(interval=0.2)
    yield server
    server.close()


@pytest.fixture
def drip_tls() -> Iterator[DripServer]:
    server = DripServer(interval=0.2, payload=DripServer.TLS_RECORD)
    yield server
    server.close()


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_slow_drip_peers_leak_no_threads_or_connections(
    make_settings: Callable[..., HealthSettings],
    run_exporter: Runner,
    drip_http: DripServer,
    drip_tls: DripServer,
) -> None:
    settings = make_settings(
        http={
            "include_panel_defaults": False,
            "targets": [{"name": "drip", "url": drip_http.url, "timeout_seconds": 0.5}],
        },
        tls={
            "timeout_seconds": 0.5,
            "targets": [{"name": "drip", "host": "127.0.0.1", "port": drip_tls.port}],
        },
    )
    url, _ = run_exporter(settings)
    threads_before = threading.active_count()
    with httpx.Client(timeout=30) as client:
        for _ in range(SCRAPES):
            # A 1 s scrape timeout: 0.5 s for the checks after the margin.
            response = client.get(f"{url}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1"})
            assert response.status_code == 200
            text = response.text
            assert 'panel_health_http_up{target="drip"} 0.0' in text
            assert 'panel_health_tls_up{target="drip"} 0.0' in text
    # Every scrape reached both peers, yet at most one check per peer was ever in flight ...
    assert drip_http.accepted >= 2 and drip_tls.accepted >= 2
    assert drip_http.peak_connections <= 2, drip_http.peak_connections
    assert drip_tls.peak_connections <= 2, drip_tls.peak_connections
    # ... and once the scrapes stop, every check thread ends and every connection is closed.
    assert _wait_until(lambda: threading.active_count() <= threads_before), (
        threading.active_count(),
        threads_before,
        [t.name for t in threading.enumerate()],
    )
    assert _wait_until(lambda: drip_http.open_connections == 0 and drip_tls.open_connections == 0)


def test_a_check_reports_timeout_at_its_total_deadline(
    make_settings: Callable[..., HealthSettings], drip_http: DripServer
) -> None:
    from panel_health.checks import build_checks
    from panel_health.runner import run_checks

    settings = make_settings(
        http={
            "include_panel_defaults": False,
            "targets": [{"name": "drip", "url": drip_http.url, "timeout_seconds": 0.5}],
        }
    )
    [result] = run_checks(build_checks(settings), 30)
    assert (result.up, result.reason) == (False, "timeout")
    assert "0.5" in result.message


def test_concurrent_scrapes_share_one_run_per_check(
    make_settings: Callable[..., HealthSettings], run_exporter: Runner, drip_http: DripServer
) -> None:
    """Two Prometheus replicas (here four scrapers at once) cost one connection per check, not one each."""
    from concurrent.futures import ThreadPoolExecutor

    settings = make_settings(
        http={
            "include_panel_defaults": False,
            "targets": [{"name": "drip", "url": drip_http.url, "timeout_seconds": 1.0}],
        }
    )
    url, _ = run_exporter(settings)

    def scrape(_: int) -> str:
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
        return httpx.get(f"{url}/metrics", headers=headers, timeout=30).text

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            texts = list(pool.map(scrape, range(4)))
            assert all('panel_health_http_up{target="drip"} 0.0' in text for text in texts)
    # Without sharing: 4 connections per round, 12 in all. The peer notices a hang-up only at its next
    # byte, so the previous round's connection may still count as open when the next one arrives.
    assert drip_http.peak_connections <= 2, drip_http.peak_connections
    assert drip_http.accepted <= 6, drip_http.accepted
