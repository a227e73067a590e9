"""Flap suppression and state-change detection; queues deliveries after the caller's commit."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import event, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from panel.models import (
    NotificationChannel,
    NotificationDelivery,
    Server,
    ServerAlertState,
    ServerStatus,
    iso,
)
from panel.notifications.delivery import enqueue

if TYPE_CHECKING:
    from panel.extensions import Resources

UP = ServerStatus.UP.value
DOWN = ServerStatus.DOWN.value
_PENDING_KEY = "panel_notifications_pending"  # Session.info: new deliveries not flushed yet
_FLUSHED_KEY = "panel_notifications_flushed"  # Session.info: ids of deliveries to queue after commit
THRESHOLD_KEY = "panel_notify_failures_before_down"  # Session.info, set by watch()
DEFAULT_THRESHOLD = 3
log = logging.getLogger(__name__)


def _alert_state(session: Session, server_id: int) -> ServerAlertState:
    """The server's row, locked for this transaction on PostgreSQL (two checks of one server at once)."""
    statement = select(ServerAlertState).where(ServerAlertState.server_id == server_id).with_for_update()
    found = session.scalar(statement)
    if found is not None:
        return found
    created = ServerAlertState(server_id=server_id, consecutive_failures=0, state=ServerStatus.UNKNOWN.value)
    try:
        with session.begin_nested():
            session.add(created)
    except IntegrityError:  # another check of this server created it first
        found = session.scalar(statement)
        assert found is not None
        return found
    return created


def transition(state: ServerAlertState, up: bool, threshold: int) -> str | None:
    """Apply one result to ``state``; the confirmed change it causes ("down", "up") or None."""
    if up:
        state.consecutive_failures = 0
        if state.state == DOWN:
            state.state = UP
            return UP
        state.state = UP
        return None
    state.consecutive_failures += 1
    if state.state != DOWN and state.consecutive_failures >= threshold:
        state.state = DOWN
        return DOWN
    return None


def channels_for(session: Session, server_id: int) -> list[NotificationChannel]:
    """Enabled channels that cover ``server_id``: its own and the global ones."""
    statement = select(NotificationChannel).where(
        NotificationChannel.enabled.is_(True),
        or_(NotificationChannel.server_id.is_(None), NotificationChannel.server_id == server_id),
    )
    return list(session.scalars(statement.order_by(NotificationChannel.id)))


def on_result(
    session: Session,
    server: Server,
    up: bool,
    checked_at: datetime,
    error: str | None,
    threshold: int | None = None,
) -> str | None:
    """Count one check result of ``server``; on a confirmed change, add a delivery per channel.

    ``threshold``: failures in a row that confirm "down" (default: NOTIFY_FAILURES_BEFORE_DOWN, which
    ``watch`` puts into every session of the app's factory).
    """
    if threshold is None:
        threshold = int(session.info.get(THRESHOLD_KEY, DEFAULT_THRESHOLD))
    state = _alert_state(session, server.id)
    change = transition(state, up, threshold)
    if change is None:
        return None
    state.changed_at = checked_at
    details: dict[str, Any] = {
        "server": {
            "id": server.id,
            "name": server.name,
            "address": server.address,
            "port": server.port,
            "protocol": server.protocol,
        },
        "checked_at": iso(checked_at),
        "error": error,
        "failures": threshold if change == DOWN else None,
    }
    for channel in channels_for(session, server.id):
        add_delivery(session, channel, change, details, server.id)
    return change


def add_delivery(
    session: Session,
    channel: NotificationChannel,
    event_name: str,
    details: dict[str, Any],
    server_id: int | None,
) -> NotificationDelivery:
    """A pending delivery in ``session``; its job is queued once the session commits."""
    delivery = NotificationDelivery(
        channel=channel, server_id=server_id, event=event_name, details=details, status="pending", attempts=0
    )
    session.add(delivery)
    session.info.setdefault(_PENDING_KEY, []).append(delivery)
    return delivery


def watch(resources: Resources) -> None:
    """Queue the deliveries of every session of ``resources`` once it commits.

    Bound to the session factory rather than to Flask's app context, so results written anywhere
    (request, RQ job, the check engine's database thread) notify the same way.
    """
    factory = resources.sessions.session_factory
    info = {**factory.kw.get("info", {}), THRESHOLD_KEY: resources.settings.notify_failures_before_down}
    factory.configure(info=info)

    def after_commit(session: Session) -> None:
        _queue_after_commit(session, resources)

    event.listen(factory, "after_flush_postexec", _remember_ids)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_soft_rollback", _forget_after_rollback)


def _remember_ids(session: Session, _context: Any) -> None:
    """Ids are known after the flush; after the commit, attributes can no longer be loaded."""
    pending: list[NotificationDelivery] = session.info.get(_PENDING_KEY, [])
    flushed = [delivery.id for delivery in pending if delivery.id is not None]
    if flushed:
        session.info.setdefault(_FLUSHED_KEY, []).extend(flushed)
        session.info[_PENDING_KEY] = [delivery for delivery in pending if delivery.id is None]


def _queue_after_commit(session: Session, resources: Resources) -> None:
    ids: list[int] = session.info.pop(_FLUSHED_KEY, [])
    session.info.pop(_PENDING_KEY, None)
    if not ids:
        return
    try:
        for delivery_id in ids:
            enqueue(resources.redis, delivery_id)
    except redis.RedisError:
        # The rows stay "pending" and are listed in the UI, where an admin can retry them.
        log.warning("notifications not queued: Redis unreachable", extra={"delivery_ids": ids})


def _forget_after_rollback(session: Session, previous: Any) -> None:
    if previous.nested:  # a savepoint (e.g. the alert-state insert race): the outer work goes on
        return
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_FLUSHED_KEY, None)
