"""Changes to user accounts, shared by API v2 and the admin pages of the UI.

Each change commits together with its audit entry. Errors are ApiError (409 on a taken username or
email, or when admins would demote or disable themselves), so both callers report them the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel import audit, password_policy
from panel.auth.passwords import hash_password
from panel.errors import ApiError
from panel.models import Role, User
from panel.validation import UserCreate


def create_user(session: Session, data: UserCreate) -> User:
    user = User(
        username=data.username, email=data.email, role=data.role, password_hash=hash_password(data.password)
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "Conflict", "a user with this username or email already exists") from None
    audit.record(
        session,
        "user.create",
        "user",
        user.id,
        changes={"username": user.username, "role": user.role, "email": user.email},
    )
    session.commit()
    return user


def update_user(session: Session, user: User, changes: dict[str, Any], actor_id: int) -> User:
    """Apply ``changes`` (role, is_active, password, email) made by the user ``actor_id``."""
    if user.id == actor_id and (
        changes.get("role", Role.ADMIN.value) != Role.ADMIN.value or changes.get("is_active") is False
    ):
        raise ApiError(409, "Conflict", "you cannot demote or deactivate yourself; ask another admin")
    if "password" in changes:
        # The request models check the rules that need no username; the username is the account's.
        found = password_policy.problems(changes["password"], user.username)
        if found:
            raise ApiError(
                422,
                "Unprocessable Content",
                f"password: {'; '.join(found)}",
                errors=[{"field": "password", "message": message} for message in found],
            )
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "password":
            user.password_hash = hash_password(value)
            diff["password"] = "changed"  # noqa: S105 - a marker, not a password
            continue
        if getattr(user, field) != value:
            diff[field] = {"old": getattr(user, field), "new": value}
            setattr(user, field, value)
    if diff:
        audit.record(session, "user.update", "user", user.id, changes=diff)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise ApiError(409, "Conflict", "another user already has this email") from None
    return user
