"""Keeps passwords, tokens and keys out of logs, error messages and notifications.

Two defences, both applied by `scrub`:
- shapes that are secret wherever they appear: the password (or a lone user part, often a token) in
  a URL's userinfo, a URL's query string (signatures, API keys), `Bearer <token>` and JSON Web Tokens;
- values known to be secret: every secret setting is registered when the settings load
  (`service_settings.load`), so it is masked even where it appears on its own, e.g. in a driver's
  error message.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Shorter registered values are ignored: masking every "a" or "123" would garble the text and tell
# a reader where the secret's characters are.
MIN_SECRET_LENGTH = 4

# scheme://[userinfo@]rest[?query]: userinfo and the query are what may hold secrets. A URL ends at
# whitespace or a quote, so one inside JSON or a sentence stops where it should. The userinfo runs to
# the LAST @ before the host (as urlsplit reads it), so an unencoded @ in a password is masked too.
_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)"
    r"(?:(?P<user>[^:/?#\s\"'<>]*)(?::(?P<password>[^/?#\s\"'<>]*))?@)?"
    r"(?P<rest>[^\s?#\"'<>]*)"
    r"(?P<query>\?[^\s#\"'<>]*)?"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def _userinfo(user: str | None, password: str | None) -> str:
    if user is None:
        return ""
    if password is not None:
        return f"{user}:{MASK}@"  # the user names the account; only the password is secret
    return f"{MASK}@" if user else "@"  # a lone user part is often a token (https://TOKEN@host)


def redact_url(url: str) -> str:
    """The URL with its password (a lone user part too) and its query string masked.

    A value urlsplit refuses (a stray "[" in a password) is redacted by the text rules when it still
    reads as one URL; anything else that is not a URL is masked whole: it may be a secret set in the
    wrong place.
    """
    if "://" not in url:
        return MASK
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for an out-of-range or non-numeric port
    except ValueError:
        match = _URL.fullmatch(url)
        return _redact_url_match(match) if match else MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, password = userinfo.partition(":")
        netloc = _userinfo(user, password if has_password else None) + host
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _redact_url_match(match: re.Match[str]) -> str:
    userinfo = ""
    if match.group("user") is not None:
        userinfo = _userinfo(match.group("user"), match.group("password"))
    query = f"?{MASK}" if match.group("query") else ""
    return f"{match.group('scheme')}{userinfo}{match.group('rest')}{query}"


class SecretRegistry:
    """Secret values to mask wherever they appear (thread-safe; values are only ever added)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, value: str | None) -> None:
        """Mask ``value`` from now on, also as it reads escaped inside a repr() or a JSON string (an
        exception message quoting it with !r, a JSON body in a log line)."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        forms = {
            value,
            repr(value)[1:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
        }
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            self._values = tuple(sorted(set(self._values) | forms, key=len, reverse=True))

    def add_url(self, url: str | None) -> None:
        """A URL setting: the whole URL and its password (a driver may print either on its own)."""
        if not url:
            return
        self.add(url)
        with contextlib.suppress(ValueError):  # urlsplit refuses it: the whole URL is registered
            self.add(urlsplit(url).password)

    def scrub(self, text: str) -> str:
        for value in self._values:  # a tuple replaced whole on add: no lock needed to read it
            text = text.replace(value, MASK)
        return text

    def clear(self) -> None:
        """Forget every value (tests only: a process keeps its secrets for its lifetime)."""
        with self._lock:
            self._values = ()


# The process's registry: settings register into it, logs and error messages scrub with it.
secrets = SecretRegistry()


def register_secret(value: str | None) -> None:
    secrets.add(value)


def scrub(text: str, registry: SecretRegistry | None = None) -> str:
    """``text`` with every registered secret, URL password, URL query, bearer token and JWT masked."""
    text = (registry or secrets).scrub(text)
    text = _URL.sub(_redact_url_match, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _JWT.sub(MASK, text)
