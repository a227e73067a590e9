"""CSRF protection for cookie-authenticated requests: one random token per session.

Every unsafe request (POST, PUT, PATCH, DELETE) that relies on the session cookie must carry the
session's token, either as the form field ``csrf_token`` or as the ``X-CSRF-Token`` header.
Requests authenticated by ``Authorization: Bearer`` carry no ambient credential and need no token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """The session's CSRF token, created on first use (also available in templates as csrf_token())."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_csrf_token() -> str:
    """Issue a fresh token, e.g. after login, so a token seen before login is useless afterwards."""
    session.pop(SESSION_KEY, None)
    return csrf_token()


def submitted_token() -> str | None:
    return request.headers.get(HEADER) or request.form.get(FORM_FIELD)


def csrf_valid() -> bool:
    """True when the request carries the session's token (constant-time comparison)."""
    expected = session.get(SESSION_KEY)
    submitted = submitted_token()
    if not isinstance(expected, str) or not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
