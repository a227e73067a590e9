"""The HTTP side of ``panel-health serve``: ``/metrics`` (checks run at scrape time) and ``/healthz``.

One process, threads for concurrent scrapes; the prometheus-client multiprocess mode is not used
because custom collectors do not work there.
"""

from __future__ import annotations

import logging
import math
import signal
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector

from panel_health.checks import build_checks
from panel_health.checks.resources_check import CpuSampler
from panel_health.collector import ResultsCollector
from panel_health.perf import perf_targets
from panel_health.perf_poller import PerfPoller
from panel_health.runner import CheckRunner
from panel_health.settings import HealthSettings

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
TIMEOUT_HEADER = "HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"
MINIMUM_DEADLINE_SECONDS = 0.1
# Prometheus cannot time out a scrape later than its interval; ten minutes is beyond any sane interval.
MAXIMUM_SCRAPE_TIMEOUT_SECONDS = 600.0


def scrape_deadline(header_value: str | None, settings: HealthSettings) -> float:
    """The checks' budget: Prometheus's scrape timeout (or the default) minus the safety margin.

    The header comes from whoever scrapes: anything but a positive, finite number of seconds is ignored
    (``inf``, ``nan``, ``-1``), and a huge one is held to MAXIMUM_SCRAPE_TIMEOUT_SECONDS.
    """
    timeout = settings.exporter.default_scrape_timeout_seconds
    if header_value:
        try:
            parsed = float(header_value)
        except ValueError:
            parsed = math.nan
        if math.isfinite(parsed) and parsed > 0:
            timeout = min(parsed, MAXIMUM_SCRAPE_TIMEOUT_SECONDS)
        else:
            log.warning("ignoring unusable scrape timeout header", extra={"value": header_value[:40]})
    return max(MINIMUM_DEADLINE_SECONDS, timeout - settings.exporter.scrape_timeout_margin_seconds)


class HealthExporter:
    """A WSGI application; usable with any WSGI server, served by ``serve()`` below."""

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self.sampler = CpuSampler(settings.resources)
        self.checks = build_checks(settings, sampler=self.sampler)
        self.runner = CheckRunner()
        self.perf = PerfPoller(settings) if settings.perf.export else None
        self._process_collector = ProcessCollector(registry=None)

    def metrics(self, header_value: str | None, accept: str | None) -> tuple[bytes, str]:
        deadline = scrape_deadline(header_value, self.settings)
        started = time.monotonic()
        results = self.runner.run(self.checks, deadline)
        if self.perf is not None and (perf := self.perf.latest()) is not None:
            results.append(perf)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ResultsCollector(results, deadline))
        registry.register(self._process_collector)
        encoder, content_type = choose_encoder(accept or "")
        body = encoder(registry)
        failing = [r.key for r in results if not r.up]
        log.info(
            "scrape",
            extra={
                "duration_s": round(time.monotonic() - started, 4),
                "deadline_s": deadline,
                "down": failing,
            },
        )
        return body, content_type

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(
                start_response, "405 Method Not Allowed", b"only GET and HEAD\n", [("Allow", "GET, HEAD")]
            )
        if path == "/healthz":
            # Liveness of the exporter itself: deliberately no dependency checks (avoids cascading restarts).
            return _plain(start_response, "200 OK", b"ok\n")
        if path == "/metrics":
            body, content_type = self.metrics(environ.get(TIMEOUT_HEADER), environ.get("HTTP_ACCEPT"))
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [b"" if method == "HEAD" else body]
        if path == "/":
            page = b'<html><body><h1>panel-health</h1><a href="/metrics">/metrics</a></body></html>\n'
            return _plain(start_response, "200 OK", page, content_type="text/html; charset=utf-8")
        return _plain(start_response, "404 Not Found", b"not found: try /metrics or /healthz\n")


def _plain(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> list[bytes]:
    start_response(
        status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])]
    )
    return [body]


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Access lines go nowhere; each scrape is logged as one JSON line by the exporter."""


def make_exporter_server(settings: HealthSettings, host: str, port: int) -> tuple[WSGIServer, HealthExporter]:
    """The server and its app; with ``perf.export`` the probe starts once the port is bound."""
    if settings.perf.export:
        perf_targets(settings)  # raises ConfigError for unknown targets before anything starts
    app = HealthExporter(settings)
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    if app.perf is not None:
        app.perf.start()
    return server, app


def serve(settings: HealthSettings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT (Kubernetes stops pods with SIGTERM), then exit cleanly."""
    server, app = make_exporter_server(settings, host, port)

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        # shutdown() waits for serve_forever to return, so it must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening", extra={"host": host, "port": port, "checks": [c.key for c in app.checks]})
    try:
        server.serve_forever()
    finally:
        if app.perf is not None:
            app.perf.stop()
        server.server_close()
