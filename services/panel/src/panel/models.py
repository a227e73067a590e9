"""The panel's domain: servers, users with roles, and the audit log of every change."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands timestamps back without a zone, and they are all UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Protocol(enum.StrEnum):
    TCP = "tcp"
    HTTP = "http"
    HTTPS = "https"


class ServerStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None for OIDC-only users
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped whenever the user's credentials or role change (password reset or change, role change,
    # deactivation). Access and refresh tokens and browser sessions carry the generation they were
    # issued under; one that no longer matches is refused, so every copy is revoked at once.
    credential_generation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    __table_args__ = (Index("ix_users_oidc_identity", "oidc_issuer", "oidc_subject", unique=True),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "role": self.role,
            "is_active": self.is_active,
            "created_at": iso(self.created_at),
        }


class Server(Base):
    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(8), default=Protocol.TCP.value)
    # Tags: a JSON list for reading, mirrored into server_tags (one indexed row per tag) for filtering.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ServerStatus.UNKNOWN.value)
    last_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_check_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # Every filter and sort path of the list endpoints; the id is the keyset tiebreaker.
        Index("ix_servers_status_id", "status", "id"),
        Index("ix_servers_owner_id", "owner", "id"),
        Index("ix_servers_created_at_id", "created_at", "id"),
        Index("ix_servers_name_id", "name", "id"),
    )

    tag_rows: Mapped[list[ServerTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
    )

    def set_tags(self, tags: list[str]) -> None:
        unique = sorted({t.strip().lower() for t in tags if t.strip()})
        self.tags = unique
        existing = {row.tag: row for row in self.tag_rows}
        self.tag_rows = [existing.get(tag) or ServerTag(tag=tag) for tag in unique]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "protocol": self.protocol,
            "tags": list(self.tags or []),
            "owner": self.owner,
            "status": self.status,
            "last_check_at": iso(self.last_check_at),
            "last_check_result": self.last_check_result,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class ServerTag(Base):
    """One row per (server, tag): what makes ``?tag=`` an index lookup instead of a scan."""

    __tablename__ = "server_tags"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_server_tags_tag_server_id", "tag", "server_id"),)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))  # e.g. server.create, user.update, auth.login
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (Index("ix_audit_target", "target_type", "target_id"),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": iso(self.created_at),
            "actor": self.actor.username if self.actor else None,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "changes": self.changes,
            "request_id": self.request_id,
        }


class CheckResult(Base):
    """One reachability check of one server (contract C3): the server's history, pruned by age.

    Written only through ``panel.checks.history.record_result``.
    """

    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    up: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_check_results_server_id_checked_at", "server_id", "checked_at"),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "server_id": self.server_id,
            "checked_at": iso(self.checked_at),
            "up": self.up,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


# ---- notifications (panel.notifications; revision 0003) ----


class NotificationChannel(Base):
    """Where state changes are sent: an email address or a webhook URL, for one server or all."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | webhook
    target: Mapped[str] = mapped_column(String(2048))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))  # None: all
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_notification_channels_server_id", "server_id"),)

    @property
    def display_target(self) -> str:
        """The target without credentials or query string (a webhook URL may carry a token)."""
        if self.kind != "webhook":
            return self.target
        from urllib.parse import urlsplit

        parts = urlsplit(self.target)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


class ServerAlertState(Base):
    """Per server: consecutive failed checks and the state last confirmed (flap suppression)."""

    __tablename__ = "server_alert_states"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=ServerStatus.UNKNOWN.value)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationDelivery(Base):
    """One message to one channel about one state change (or a test), with its delivery outcome."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))  # down | up | test
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    channel: Mapped[NotificationChannel] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_notification_deliveries_created_at", "created_at"),
        Index("ix_notification_deliveries_channel_id", "channel_id"),
        Index("ix_notification_deliveries_server_id", "server_id"),
    )
