"""Keeps passwords and keys out of logs, error messages and mail."""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `scrub` removes it from any text."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact_url(url: str) -> str:
    """The URL with its password (and query string, which often holds tokens) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username or ''}:{MASK}@{host}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(text: str) -> str:
    """Remove every registered secret and any URL password from free text."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
