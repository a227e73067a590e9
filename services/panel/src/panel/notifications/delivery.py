"""Delivering one notification: an email over SMTP or a signed JSON POST to a webhook (an RQ job).

A failed attempt is stored on the delivery row (``attempts``, ``last_error``) and raised, so RQ
retries it with backoff (RETRY_INTERVALS); after the last attempt the row stays ``failed``. Errors
stored and logged name the problem, never a password, a token or a URL's query string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import redis
import requests
from rq import Retry
from rq.job import Job

from panel import queues
from panel.extensions import resources
from panel.models import NotificationChannel, NotificationDelivery, utcnow
from panel.settings import Settings

RETRY_INTERVALS = [10, 60, 300]  # seconds before the 2nd, 3rd and 4th attempt
MAX_ERROR_LENGTH = 500
USER_AGENT = "panel-notifications/1"
log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """One attempt failed; the message is safe to store and show."""


def enqueue(connection: redis.Redis, delivery_id: int) -> Job:
    return queues.queue(connection).enqueue(
        deliver,
        delivery_id,
        meta={"kind": "notify"},
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        result_ttl=queues.RESULT_TTL_SECONDS,
        failure_ttl=queues.RESULT_TTL_SECONDS,
    )


def subject(event: str, details: dict[str, Any]) -> str:
    name = (details.get("server") or {}).get("name", "?")
    if event == "test":
        return "[Panel] Test notification"
    return f"[Panel] {name} is {event.upper()}"


def text_body(event: str, details: dict[str, Any], panel_url: str) -> str:
    if event == "test":
        return "This is a test notification from Panel. If you can read it, this channel works.\n"
    server = details.get("server") or {}
    lines = [
        f"{server.get('name')} ({server.get('protocol')}://{server.get('address')}:{server.get('port')}) "
        f"is {event.upper()}.",
        f"Checked at: {details.get('checked_at')} (UTC)",
    ]
    if details.get("error"):
        lines.append(f"Error: {details['error']}")
    if event == "down" and details.get("failures"):
        lines.append(f"Confirmed after {details['failures']} failed checks in a row.")
    lines.append(f"Details: {panel_url.rstrip('/')}/servers/{server.get('id')}")
    return "\n".join(lines) + "\n"


def payload(delivery: NotificationDelivery, panel_url: str) -> dict[str, Any]:
    details = delivery.details or {}
    server = details.get("server")
    return {
        "event": f"server.{delivery.event}" if delivery.event != "test" else "test",
        "status": delivery.event if delivery.event in ("up", "down") else None,
        "server": server,
        "checked_at": details.get("checked_at"),
        "error": details.get("error"),
        "url": f"{panel_url.rstrip('/')}/servers/{server['id']}" if server else panel_url,
        "delivery_id": delivery.id,
    }


def send_email(settings: Settings, to: str, event: str, details: dict[str, Any]) -> None:
    if not settings.notify_smtp_host:
        raise DeliveryError("NOTIFY_SMTP_HOST is not set; set it to send email notifications")
    message = EmailMessage()
    message["From"] = settings.notify_email_from
    message["To"] = to
    message["Subject"] = subject(event, details)
    message.set_content(text_body(event, details, settings.panel_url))
    timeout = settings.notify_timeout_seconds
    host, port = settings.notify_smtp_host, settings.notify_smtp_port
    try:
        smtp: smtplib.SMTP
        if settings.notify_smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if settings.notify_smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.notify_smtp_username:
                smtp.login(settings.notify_smtp_username, settings.notify_smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(f"SMTP {host}:{port} refused the username or password") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]) from None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(settings: Settings, channel: NotificationChannel, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Panel-Event": body["event"]}
    if settings.notify_webhook_secret:
        headers["X-Panel-Signature"] = signature(settings.notify_webhook_secret, data)
    shown = channel.display_target
    try:
        response = requests.post(
            channel.target,
            data=data,
            headers=headers,
            timeout=settings.notify_timeout_seconds,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"POST {shown}: {type(exc).__name__}") from None
    response.close()
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"POST {shown}: HTTP {response.status_code}")


def deliver(delivery_id: int) -> dict[str, Any]:
    """The RQ job: send one delivery; raise on failure so RQ retries it."""
    res = resources()
    session = res.sessions()
    try:
        delivery = session.get(NotificationDelivery, delivery_id)
        if delivery is None:
            return {"delivery_id": delivery_id, "status": "gone"}
        if delivery.status == "sent":
            return {"delivery_id": delivery_id, "status": "sent"}
        channel = delivery.channel
        delivery.attempts += 1
        try:
            if channel.kind == "email":
                send_email(res.settings, channel.target, delivery.event, delivery.details or {})
            else:
                send_webhook(res.settings, channel, payload(delivery, res.settings.panel_url))
        except DeliveryError as exc:
            delivery.status = "failed"
            delivery.last_error = str(exc)
            session.commit()
            log.warning("notification failed", extra={"delivery_id": delivery_id, "error": str(exc)})
            raise
        delivery.status = "sent"
        delivery.last_error = None
        delivery.sent_at = utcnow()
        session.commit()
        log.info("notification sent", extra={"delivery_id": delivery_id, "kind": channel.kind})
        return {"delivery_id": delivery_id, "status": "sent"}
    finally:
        res.sessions.remove()
