"""Structured JSON logs on stderr; every line carries the current request id (when there is one)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from panel import requestctx

_configured = False


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = requestctx.current.get()
        if ids is not None:
            record.request_id = ids.request_id
            if ids.trace_id:
                record.trace_id = ids.trace_id
        return True


def json_handler(stream: TextIO) -> logging.Handler:
    """A handler writing one JSON object per line, with the request id and trace id when known."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceFilter())
    return handler


def configure(level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON (idempotent; safe to call from every entry point)."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    root.handlers = [json_handler(sys.stderr)]
    logging.getLogger("werkzeug").propagate = True
    # The app writes one access line per request (panel.access, with its request id); gunicorn's own
    # access logger would repeat every request.
    gunicorn_access = logging.getLogger("gunicorn.access")
    gunicorn_access.propagate = False
    gunicorn_access.disabled = True
    # Alembic announces its plugins and each migration step at INFO; `panel migrate` prints a summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request of every probe at INFO: thousands of lines per check-all round.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _configured = True
