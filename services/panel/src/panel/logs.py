"""Structured JSON logs on stderr (`service_settings`' format, secrets scrubbed); every line carries the
current request id and trace id (when there is one)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import service_settings

from panel import requestctx

_configured = False


def _request_ids() -> dict[str, str | None] | None:
    ids = requestctx.current.get()
    if ids is None:
        return None
    return {"request_id": ids.request_id, "trace_id": ids.trace_id}


def json_handler(stream: TextIO) -> logging.Handler:
    """A handler writing one JSON object per line, with the request id and trace id when known."""
    return service_settings.json_handler(stream, _request_ids)


def configure(level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON (idempotent; safe to call from every entry point)."""
    global _configured
    if _configured:
        logging.getLogger().setLevel(level)
        return
    # httpx logs every request of every probe at INFO: thousands of lines per check-all round.
    service_settings.configure_logging(level, context=_request_ids, quiet=("httpx",), stream=sys.stderr)
    logging.getLogger("werkzeug").propagate = True
    # The app writes one access line per request (panel.access, with its request id); gunicorn's own
    # access logger would repeat every request.
    gunicorn_access = logging.getLogger("gunicorn.access")
    gunicorn_access.propagate = False
    gunicorn_access.disabled = True
    # Alembic announces its plugins and each migration step at INFO; `panel migrate` prints a summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _configured = True
