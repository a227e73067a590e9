"""Structured JSON logs on stderr (`service_settings`' format, secrets scrubbed); Locust's stats
table stays plain on stdout."""

from __future__ import annotations

import logging
import sys

import service_settings


def configure_json_logging(level: str = "INFO") -> None:
    # One line per HTTP call from the account set-up is noise at INFO.
    service_settings.configure_logging(level, quiet=("httpx",))
    table = logging.StreamHandler(sys.stdout)
    table.setFormatter(logging.Formatter("%(message)s"))
    stats_logger = logging.getLogger("locust.stats_logger")
    stats_logger.handlers[:] = [table]
    stats_logger.propagate = False
