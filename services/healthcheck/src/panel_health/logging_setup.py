"""Structured JSON logs on stderr, with URLs' credentials and query strings never written out.

Client libraries log request URLs (httpx at INFO: "HTTP Request: GET https://user:pass@host/?token=...").
Their loggers are held at WARNING, and every record still passes a filter that removes userinfo and
query strings from anything that looks like a URL, whichever library wrote it.
"""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

# Libraries whose INFO/DEBUG records describe each request, URL included.
CHATTY_LOGGERS = ("httpx", "httpcore", "urllib3", "hpack")
_URL = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#]*@)?"
    r"(?P<rest>[^\s?#\"']*)(?P<query>\?[^\s#\"']*)?"
)


def redact_urls(text: str) -> str:
    """``https://user:pass@host/p?token=x`` -> ``https://***@host/p?***`` (only what was there)."""

    def replace(match: re.Match[str]) -> str:
        userinfo = "***@" if match.group("userinfo") else ""
        query = "?***" if match.group("query") else ""
        return f"{match.group('scheme')}{userinfo}{match.group('rest')}{query}"

    return _URL.sub(replace, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and "://" in value and key not in ("msg", "message"):
                setattr(record, key, redact_urls(value))
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"asctime": "time"})
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
