"""Structured JSON logs on stderr, scrubbed of secrets (the format is `service_settings`')."""

from __future__ import annotations

import logging

import service_settings

# Client libraries that log every request (URLs, headers) at INFO or DEBUG: held at WARNING.
CHATTY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore")


def configure_logging(level: str = "INFO") -> None:
    service_settings.configure_logging(level, quiet=CHATTY_LOGGERS)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"panel_backup.{name}")
