"""Notification channels (admins): add email or webhook targets, globally or per server; test; history."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from panel.auth import require_role
from panel.errors import ApiError
from panel.extensions import db, settings
from panel.inventory import get_server
from panel.models import NotificationChannel, Role
from panel.notifications import channels as channel_store
from panel.notifications.channels import ChannelCreate
from panel.ui import forms
from panel.ui.render import bp, page
from panel.validation import MAX_DB_INT

ADMIN = Role.ADMIN.value


def channels_for(server_id: int) -> list[NotificationChannel]:
    """Channels covering one server (its own and the global ones), for the server page."""
    return channel_store.listing(db(), server_id)


def _server_id_arg(raw: str | None) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_DB_INT:
        return int(raw)
    return None


def _page(values: dict[str, object], errors: dict[str, str], status: int) -> ResponseReturnValue:
    session = db()
    server_id = _server_id_arg(str(values.get("server_id") or request.args.get("server_id") or ""))
    scope_server = get_server(session, server_id) if server_id else None
    return page(
        "ui/notifications.html",
        status,
        channels=channel_store.listing(session),
        deliveries=channel_store.recent_deliveries(session),
        values=values,
        errors=errors,
        scope_server=scope_server,
        config_threshold=settings().notify_failures_before_down,
    )


@bp.get("/notifications")
@require_role(ADMIN)
def notifications() -> ResponseReturnValue:
    return _page({"kind": "email", "target": "", "server_id": request.args.get("server_id")}, {}, 200)


@bp.post("/notifications")
@require_role(ADMIN)
def notification_create() -> ResponseReturnValue:
    values: dict[str, object] = {
        "kind": request.form.get("kind", ""),
        "target": request.form.get("target", "").strip(),
        "server_id": _server_id_arg(request.form.get("server_id")),
    }
    result = forms.validate(ChannelCreate, values)
    if result.model is None:
        errors = {("target" if k == "form" else k): v for k, v in result.errors.items()}
        return _page(values, errors, 422)
    channel = channel_store.create(db(), result.model)
    flash(f"Notifications will go to {channel.display_target}.")
    if channel.server_id:
        return redirect(url_for("ui.server_detail", server_id=channel.server_id))
    return redirect(url_for("ui.notifications"))


def _channel(channel_id: int) -> NotificationChannel:
    return channel_store.get(db(), channel_id)


@bp.post("/notifications/<int:channel_id>/test")
@require_role(ADMIN)
def notification_test(channel_id: int) -> ResponseReturnValue:
    channel = _channel(channel_id)
    channel_store.send_test(db(), channel)
    flash(f"Test notification to {channel.display_target} queued; its outcome appears below.")
    return redirect(url_for("ui.notifications"))


@bp.post("/notifications/<int:channel_id>/enabled")
@require_role(ADMIN)
def notification_enabled(channel_id: int) -> ResponseReturnValue:
    channel = _channel(channel_id)
    channel_store.set_enabled(db(), channel, request.form.get("enabled") == "1")
    flash(f"{channel.display_target} {'enabled' if channel.enabled else 'paused'}.")
    return redirect(url_for("ui.notifications"))


@bp.post("/notifications/<int:channel_id>/delete")
@require_role(ADMIN)
def notification_delete(channel_id: int) -> ResponseReturnValue:
    channel = _channel(channel_id)
    shown = channel.display_target
    channel_store.delete(db(), channel)
    flash(f"Notifications to {shown} removed.")
    return redirect(url_for("ui.notifications"))


@bp.post("/notifications/deliveries/<int:delivery_id>/retry")
@require_role(ADMIN)
def notification_retry(delivery_id: int) -> ResponseReturnValue:
    try:
        channel_store.retry(db(), delivery_id)
    except ApiError as exc:
        if exc.status != 409:
            raise
        flash("That notification was already sent.", "error")
        return redirect(url_for("ui.notifications"))
    flash("Another attempt is queued.")
    return redirect(url_for("ui.notifications"))
