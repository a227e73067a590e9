"""Admin pages: users (list, create, change role, disable/enable, reset password) and the audit log."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from panel import audit as audit_log
from panel.accounts import create_user, update_user
from panel.auth import current_user, require_role
from panel.errors import ApiError
from panel.extensions import db
from panel.models import AuditEntry, Role, User
from panel.ui import forms
from panel.ui.render import WRITERS, bp, is_admin, page
from panel.validation import MAX_DB_INT, USERNAME_PATTERN, UserCreate, UserPatch, query_text

ROLES = tuple(role.value for role in Role)
ADMIN = Role.ADMIN.value
AUDIT_PAGE = 50
# Suggestions for the filters (the filters accept any value; these are what the panel writes today).
KNOWN_ACTIONS = (
    "auth.login",
    "auth.login_failed",
    "notification.create",
    "notification.delete",
    "notification.update",
    "server.check",
    "server.check_all",
    "server.create",
    "server.delete",
    "server.status",
    "server.update",
    "user.create",
    "user.update",
)
KNOWN_TARGETS = ("notification_channel", "server", "user")


def _user(user_id: int) -> User:
    user = db().get(User, user_id) if 0 < user_id <= MAX_DB_INT else None
    if user is None:
        raise ApiError(404, "Not found", f"There is no user with id {user_id}.")
    return user


@bp.get("/users")
@require_role(ADMIN)
def users() -> ResponseReturnValue:
    rows = list(db().scalars(select(User).order_by(User.username)))
    return page("ui/users.html", users=rows, roles=ROLES)


def _new_user_page(values: dict[str, Any], errors: dict[str, str], status: int) -> Any:
    return page("ui/user_new.html", status, values=values, errors=errors, roles=ROLES)


@bp.get("/users/new")
@require_role(ADMIN)
def user_new() -> ResponseReturnValue:
    return _new_user_page({"username": "", "email": "", "role": "viewer"}, {}, 200)


@bp.post("/users/new")
@require_role(ADMIN)
def user_create() -> ResponseReturnValue:
    form = request.form
    values = {
        "username": form.get("username", "").strip(),
        "email": forms.optional(form.get("email")),
        "role": form.get("role", "viewer"),
        "password": form.get("password", ""),
    }
    result = forms.validate(UserCreate, values)
    shown = {k: v for k, v in values.items() if k != "password"}  # never echo a password back
    if result.model is None:
        return _new_user_page(shown, result.errors, 422)
    try:
        user = create_user(db(), result.model)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return _new_user_page(shown, {"username": "A user with this username or email already exists."}, 409)
    flash(f"User {user.username} created with role {user.role}.")
    return redirect(url_for("ui.user_detail", user_id=user.id))


@bp.get("/users/<int:user_id>")
@require_role(ADMIN)
def user_detail(user_id: int) -> ResponseReturnValue:
    return page("ui/user_detail.html", user=_user(user_id), roles=ROLES, new_password=None)


def _apply(user: User, changes: dict[str, Any]) -> str | None:
    """Apply validated ``changes``; a message for the page when refused (e.g. demoting yourself)."""
    me = current_user()
    assert me is not None
    result = forms.validate(UserPatch, changes)
    if result.model is None:
        return " ".join(result.errors.values())
    try:
        update_user(db(), user, changes, me.id)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return (exc.detail or exc.title).capitalize() + "."
    return None


@bp.post("/users/<int:user_id>/role")
@require_role(ADMIN)
def user_role(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    problem = _apply(user, {"role": request.form.get("role", "")})
    flash(problem or f"{user.username} is now {user.role}.", "error" if problem else "message")
    return redirect(url_for("ui.user_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/active")
@require_role(ADMIN)
def user_active(user_id: int) -> ResponseReturnValue:
    user = _user(user_id)
    active = request.form.get("active") == "1"
    problem = _apply(user, {"is_active": active})
    done = f"{user.username} {'can sign in again' if active else 'is disabled and signed out'}."
    flash(problem or done, "error" if problem else "message")
    return redirect(url_for("ui.user_detail", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@require_role(ADMIN)
def user_password(user_id: int) -> ResponseReturnValue:
    """Set a new random password and show it once, on this response only (never stored or logged)."""
    user = _user(user_id)
    if user.password_hash is None and user.oidc_subject:
        flash(f"{user.username} signs in with single sign-on; there is no password to reset.", "error")
        return redirect(url_for("ui.user_detail", user_id=user.id))
    password = secrets.token_urlsafe(15)  # 20 characters, ~120 bits
    problem = _apply(user, {"password": password})
    if problem:
        flash(problem, "error")
        return redirect(url_for("ui.user_detail", user_id=user.id))
    return page("ui/user_detail.html", user=user, roles=ROLES, new_password=password)


# ---- audit log ----


def _audit_cursor() -> int | None:
    token = request.args.get("before", "")
    if not token:
        return None
    try:
        value = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return value if 0 < value <= MAX_DB_INT else None


@bp.get("/audit")
@require_role(*WRITERS)
def audit() -> ResponseReturnValue:
    session = db()
    try:
        action = query_text("action", 64, r"[a-z_.]{1,64}") or ""
        target_type = query_text("target_type", 32, r"[a-z_]{1,32}") or ""
        actor = query_text("actor", 64, USERNAME_PATTERN) or ""
    except ApiError as exc:
        flash(f"{exc.detail}. The log shows every entry instead.", "error")
        return redirect(url_for("ui.audit"))
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE + 1)
    before = _audit_cursor()
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if target_type:
        statement = statement.where(AuditEntry.target_type == target_type)
    if actor:
        actor_id = session.scalar(select(User.id).where(User.username == actor))
        statement = statement.where(AuditEntry.actor_id == (actor_id or -1))
    rows = list(session.scalars(statement))
    admin = is_admin()
    older = None
    if len(rows) > AUDIT_PAGE:
        rows = rows[:AUDIT_PAGE]
        older = base64.urlsafe_b64encode(str(rows[-1].id).encode()).decode().rstrip("=")
    return page(
        "ui/audit.html",
        entries=[(entry, audit_log.visible(entry, reveal_accounts=admin)) for entry in rows],
        older=older,
        filters={"action": action, "target_type": target_type, "actor": actor},
        actions=KNOWN_ACTIONS,
        targets=KNOWN_TARGETS,
        paged=before is not None,
    )
