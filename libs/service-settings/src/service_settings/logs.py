"""Structured JSON logs on stderr: one object per line, secrets scrubbed, request ids where there are any.

Every line has `time`, `level`, `logger` and `message`, plus whatever the caller passed as `extra=`
and the fields of the service's context (e.g. the panel's `request_id` and `trace_id`). Secrets are
scrubbed from every string value before it is encoded, so a password with a quote or a backslash is
masked too (after JSON encoding it would no longer match).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from .redact import scrub

LogContext = Callable[[], Mapping[str, Any] | None]


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


class ScrubbingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with every string scrubbed of secrets before encoding."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _scrubbed(value) for key, value in super().process_log_record(log_data).items()}


class ContextFilter(logging.Filter):
    """Adds the fields that ``context()`` returns (None or empty: none) to each record."""

    def __init__(self, context: LogContext) -> None:
        super().__init__()
        self._context = context

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (self._context() or {}).items():
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        return True


def json_handler(stream: TextIO, context: LogContext | None = None) -> logging.Handler:
    """A handler writing one scrubbed JSON object per line to ``stream``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        ScrubbingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    if context is not None:
        handler.addFilter(ContextFilter(context))
    return handler


def configure_logging(
    level: str = "INFO",
    *,
    context: LogContext | None = None,
    quiet: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route the root logger to ``stream`` (stderr) as JSON; returns the handler.

    Safe to call from every entry point and more than once: each call replaces the root's handlers, so
    no line is ever written twice. ``quiet`` loggers (client libraries that log each request, URL
    included) are held at WARNING. An unknown ``level`` raises ValueError naming the accepted ones.
    """
    name = level.upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    handler = json_handler(stream if stream is not None else sys.stderr, context)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(name)
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
