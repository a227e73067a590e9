"""Audit log: one entry per change, written in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from sqlalchemy.orm import Session

from panel.models import AuditEntry

# Entries about accounts (user changes, sign-ins) carry emails, roles and typed usernames, and those
# about notification channels carry email addresses and webhook hosts: only admins see their
# details; other roles see that something happened, and to which id.
ACCOUNT_TARGETS = frozenset({"user", "notification_channel"})


def record(
    session: Session,
    action: str,
    target_type: str,
    target_id: object | None = None,
    changes: dict[str, Any] | None = None,
    actor_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry to ``session``; the caller's commit makes it durable with the change."""
    if actor_id is None and has_request_context():
        user = getattr(g, "current_user", None)
        actor_id = user.id if user is not None else None
    request_id = getattr(g, "request_id", None) if has_request_context() else None
    entry = AuditEntry(
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        changes=changes,
        actor_id=actor_id,
        request_id=request_id,
    )
    session.add(entry)
    return entry


def visible(entry: AuditEntry, reveal_accounts: bool) -> dict[str, Any]:
    """The entry as the audit API shows it to a caller (see ACCOUNT_TARGETS)."""
    shown = entry.to_dict()
    if not reveal_accounts and (entry.target_type in ACCOUNT_TARGETS or entry.action.startswith("auth.")):
        shown["changes"] = None
        shown["redacted"] = True
    return shown
