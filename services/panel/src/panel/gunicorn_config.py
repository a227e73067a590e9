"""gunicorn settings for ``panel web``, all derived from the panel's settings object.

Loaded as ``--config python:panel.gunicorn_config``. Prometheus multiprocess mode: each worker
writes its samples under PROMETHEUS_MULTIPROC_DIR, and a dead worker's live gauges are dropped.
"""

from __future__ import annotations

import json
import os
from typing import Any

from gunicorn import glogging, util

from panel.metrics import mark_process_dead, serve
from panel.settings import load_settings

_settings = load_settings()

bind = _settings.web_bind
workers = _settings.web_concurrency
worker_class = _settings.web_worker_class
threads = _settings.web_threads
timeout = 30
graceful_timeout = 25
keepalive = 5
# Heartbeat files in RAM when available; /tmp otherwise (the only writable path in the image).
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108
# gunicorn 24+ opens a control socket under $HOME by default; the image's root filesystem is read-only.
control_socket_disable = True
accesslog = None  # the app writes one JSON line per request, with its request id
# gunicorn formats an access line for every request whenever logconfig_dict is set, even for a
# disabled logger (a few % of a cached request); this logger class skips it.
logger_class = "panel.gunicorn_config.AppLogsAccess"
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            # service_settings' formatter: gunicorn's own lines are scrubbed of secrets like the app's.
            "()": "service_settings.logs.ScrubbingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "root": {"handlers": ["stderr"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
        "alembic": {"level": "WARNING"},
    },
}


class AppLogsAccess(glogging.Logger):
    """gunicorn's logger without its access log: the app's panel.access line is the only one."""

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def problem_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answers (malformed request line, headers too large: 400, 414, 431, ...) as
    RFC 9457 problem+json, like every answer of the app, instead of gunicorn's HTML page."""
    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status_int, "detail": mesg[:500]},
        ensure_ascii=True,
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


# gunicorn offers no hook for these answers; its workers call util.write_error at call time, so
# replacing it here (the config module loads in the master, before any worker forks) covers them all.
util.write_error = problem_error


def when_ready(_server: Any) -> None:
    # The master serves /metrics for every worker (multiprocess files) on METRICS_PORT, not the app port.
    serve(_settings.metrics_port, _settings.metrics_address)


def child_exit(_server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid)
