"""Structured JSON logs on stderr, with URLs' credentials and query strings never written out.

Client libraries log request URLs (httpx at INFO: "HTTP Request: GET https://user:pass@host/?token=...").
Their loggers are held at WARNING, and `service_settings`' formatter scrubs every line anyway: URL
passwords and query strings, bearer tokens, and the secret settings (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import service_settings

# Libraries whose INFO/DEBUG records describe each request, URL included.
CHATTY_LOGGERS = ("httpx", "httpcore", "urllib3", "hpack")


def configure_logging(level: str) -> None:
    service_settings.configure_logging(level, quiet=CHATTY_LOGGERS)
