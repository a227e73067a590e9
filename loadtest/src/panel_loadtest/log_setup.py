"""Structured JSON logs on stderr (python-json-logger); Locust's stats table stays plain on stdout."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_json_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    table = logging.StreamHandler(sys.stdout)
    table.setFormatter(logging.Formatter("%(message)s"))
    stats_logger = logging.getLogger("locust.stats_logger")
    stats_logger.handlers[:] = [table]
    stats_logger.propagate = False
    # One line per HTTP call from the account set-up is noise at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
