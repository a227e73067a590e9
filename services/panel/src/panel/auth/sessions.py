"""Server-side registry of browser sessions in Redis.

Flask's session is a signed cookie; on its own, a copied cookie stays valid after logout until it
expires. Each sign-in therefore gets a random session id recorded in Redis, logout deletes it, and the
user loader accepts a cookie only while its id is still registered for the same user.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, session

from panel import extensions

SESSION_USER_KEY = "user_id"
SESSION_ID_KEY = "sid"
SESSION_GENERATION_KEY = "gen"  # the user's credential generation at sign-in (panel.credentials)
_KEY = "panel:auth:session:{sid}"
SESSION_LIFETIME = timedelta(hours=12)


def _lifetime_seconds() -> int:
    return int(current_app.permanent_session_lifetime.total_seconds())


def start(user_id: int, generation: int = 0) -> None:
    """Start a fresh session for ``user_id``, discarding everything the old one held (fixation)."""
    session.clear()
    sid = secrets.token_urlsafe(24)
    extensions.redis_client().set(_KEY.format(sid=sid), str(user_id), ex=_lifetime_seconds())
    session[SESSION_USER_KEY] = user_id
    session[SESSION_ID_KEY] = sid
    session[SESSION_GENERATION_KEY] = generation
    session.permanent = True


def generation() -> int:
    value = session.get(SESSION_GENERATION_KEY, 0)
    return value if isinstance(value, int) else -1


def user_id() -> int | None:
    """The signed-in user id of this browser session, if its id is still registered."""
    uid = session.get(SESSION_USER_KEY)
    sid = session.get(SESSION_ID_KEY)
    if not isinstance(uid, int) or not isinstance(sid, str):
        return None
    registered = extensions.redis_client().get(_KEY.format(sid=sid))
    if registered is None or registered.decode() != str(uid):
        session.pop(SESSION_USER_KEY, None)
        session.pop(SESSION_ID_KEY, None)
        return None
    return uid


def end() -> None:
    sid = session.get(SESSION_ID_KEY)
    if isinstance(sid, str):
        extensions.redis_client().delete(_KEY.format(sid=sid))
    session.clear()
