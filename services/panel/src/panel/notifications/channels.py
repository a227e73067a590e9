"""Notification channels as admins manage them: validate, create, enable/disable, delete, test, retry."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import audit
from panel.errors import ApiError
from panel.extensions import redis_client
from panel.models import NotificationChannel, NotificationDelivery, Server
from panel.notifications.state import add_delivery

EMAIL = re.compile(  # the rule of panel.validation.Email
    r"^[^@\s\x00-\x1f]{1,128}@[A-Za-z0-9.-]{1,126}$"
)
MAX_URL_LENGTH = 2048


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["email", "webhook"]
    target: str
    server_id: int | None = None

    @model_validator(mode="after")
    def _target_fits_kind(self) -> ChannelCreate:
        if self.kind == "email" and not EMAIL.fullmatch(self.target):
            raise ValueError("target: enter an email address such as ops@example.com")
        if self.kind == "webhook":
            parts = urlsplit(self.target)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or len(self.target) > MAX_URL_LENGTH
                or any(ord(c) < 33 for c in self.target)
            ):
                raise ValueError("target: enter an http:// or https:// URL of at most 2048 characters")
        return self


def create(session: Session, data: ChannelCreate) -> NotificationChannel:
    if data.server_id is not None and session.get(Server, data.server_id) is None:
        raise ApiError(404, "Not Found", f"no server with id {data.server_id}")
    channel = NotificationChannel(kind=data.kind, target=data.target, server_id=data.server_id, enabled=True)
    session.add(channel)
    session.flush()
    audit.record(
        session,
        "notification.create",
        "notification_channel",
        channel.id,
        changes={"kind": channel.kind, "target": channel.display_target, "server_id": channel.server_id},
    )
    session.commit()
    return channel


def get(session: Session, channel_id: int) -> NotificationChannel:
    channel = session.get(NotificationChannel, channel_id) if 0 < channel_id < 2**31 else None
    if channel is None:
        raise ApiError(404, "Not Found", f"no notification channel with id {channel_id}")
    return channel


def set_enabled(session: Session, channel: NotificationChannel, enabled: bool) -> None:
    if channel.enabled != enabled:
        channel.enabled = enabled
        audit.record(
            session,
            "notification.update",
            "notification_channel",
            channel.id,
            changes={"enabled": {"old": not enabled, "new": enabled}},
        )
        session.commit()


def delete(session: Session, channel: NotificationChannel) -> None:
    audit.record(
        session,
        "notification.delete",
        "notification_channel",
        channel.id,
        changes={"kind": channel.kind, "target": channel.display_target, "server_id": channel.server_id},
    )
    session.delete(channel)
    session.commit()


def send_test(session: Session, channel: NotificationChannel) -> NotificationDelivery:
    """Queue a test message to ``channel`` (delivered by the worker, like a real one)."""
    delivery = add_delivery(session, channel, "test", {}, None)
    session.commit()
    return delivery


def retry(session: Session, delivery_id: int) -> NotificationDelivery:
    """Queue another attempt of a failed or stuck delivery."""
    delivery = session.get(NotificationDelivery, delivery_id) if 0 < delivery_id < 2**31 else None
    if delivery is None:
        raise ApiError(404, "Not Found", f"no delivery with id {delivery_id}")
    if delivery.status == "sent":
        raise ApiError(409, "Conflict", "this notification was already sent")
    from panel.notifications.delivery import enqueue

    delivery.status = "pending"
    session.commit()
    enqueue(redis_client(), delivery.id)
    return delivery


def listing(session: Session, server_id: int | None = None) -> list[NotificationChannel]:
    statement = select(NotificationChannel).order_by(NotificationChannel.id)
    if server_id is not None:
        statement = statement.where(
            (NotificationChannel.server_id == server_id) | NotificationChannel.server_id.is_(None)
        )
    return list(session.scalars(statement))


def recent_deliveries(session: Session, limit: int = 50) -> list[NotificationDelivery]:
    statement = select(NotificationDelivery).order_by(NotificationDelivery.id.desc()).limit(limit)
    return list(session.scalars(statement))
