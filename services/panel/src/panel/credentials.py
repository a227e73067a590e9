"""Per-user credential generation: changing a user's password, role or active flag revokes everything
that user signed in with, at once.

``User.credential_generation`` is bumped (in the same flush) whenever ``password_hash``, ``role`` or
``is_active`` of a user changes through the ORM: the users API, the admin pages, ``panel
create-admin``, anything. Access and refresh tokens carry the generation they were issued under
(claim ``gen``), and so does the browser session; ``panel.auth.identity`` and the refresh endpoint
refuse any whose generation is no longer the user's. Tokens issued before this existed carry no
``gen`` and count as generation 0, which every user starts with.

One change is not a credential change: re-hashing a password with new Argon2 parameters at sign-in
(same password). ``mark_rehash`` exempts exactly that flush.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from panel.models import User

TRACKED = ("password_hash", "role", "is_active")
_REHASHED = "panel_rehashed_user_ids"  # Session.info: users whose password_hash change is a re-hash


def mark_rehash(session: Session, user: User) -> None:
    session.info.setdefault(_REHASHED, set()).add(user.id)


def watch(factory: sessionmaker[Session]) -> None:
    event.listen(factory, "before_flush", _bump_changed_users)


def _bump_changed_users(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    rehashed: set[int] = session.info.pop(_REHASHED, set())
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        state = inspect(obj)
        changed = {name for name in TRACKED if state.attrs[name].history.has_changes()}
        if not changed or (changed == {"password_hash"} and obj.id in rehashed):
            continue
        obj.credential_generation = (obj.credential_generation or 0) + 1
