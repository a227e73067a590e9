"""Failure (and optional success) reports by email and webhook.

Reports never depend on the storage being reachable: the caller passes what it knows about the
last good backup, or why it could not find out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from service_settings import redact_url, scrub

from .logs import get_logger
from .settings import Settings

log = get_logger("notify")


@dataclass
class Report:
    command: str  # e.g. "create database"
    ok: bool
    stage: str | None
    message: str
    backup_id: str | None = None
    last_good_id: str | None = None
    last_good_age_hours: float | None = None
    last_good_note: str | None = None  # why the last good backup is unknown
    duration_seconds: float | None = None
    details: dict[str, Any] | None = None

    def subject(self) -> str:
        if self.ok:
            return f"[panel-backup] OK: {self.command}"
        return f"[panel-backup] FAILED: {self.command} at stage {self.stage or 'unknown'}"

    def body(self) -> str:
        lines = [
            f"Command: panel-backup {self.command}",
            f"Result: {'succeeded' if self.ok else 'FAILED'}",
        ]
        if not self.ok:
            lines.append(f"Stage: {self.stage or 'unknown'}")
        lines.append(f"Message: {self.message}")
        if self.backup_id:
            lines.append(f"Backup: {self.backup_id}")
        if self.duration_seconds is not None:
            lines.append(f"Duration: {self.duration_seconds:.1f} s")
        if self.last_good_id:
            lines.append(f"Last good backup: {self.last_good_id} ({self.last_good_age_hours:.1f} hours old)")
        else:
            lines.append(f"Last good backup: {self.last_good_note or 'none found'}")
        if not self.ok:
            lines += [
                "",
                "Nothing that looks like a backup was stored by this run.",
                "Logs: the job's JSON log.",
            ]
        return scrub("\n".join(lines) + "\n")


def send_email(settings: Settings, report: Report) -> bool:
    if not (settings.smtp_host and settings.email_to and settings.email_from):
        return False
    if report.ok and not settings.email_on_success:
        return False
    import smtplib  # only when a mail goes out
    import ssl
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = report.subject()
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message.set_content(report.body())
    try:
        # With BACKUP_SMTP_CA_FILE only that CA is trusted (a private relay); verification always stays on.
        context = ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )
        smtp: smtplib.SMTP
        if settings.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=30, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("could not send the report email", extra={"error": scrub(str(exc))})
        return False
    log.info("report email sent", extra={"to": len(settings.email_to), "ok": report.ok})
    return True


def send_webhook(settings: Settings, report: Report) -> bool:
    if not settings.webhook_url:
        return False
    import httpx  # only when a webhook is configured

    payload = {"source": "panel-backup", **asdict(report), "subject": report.subject()}
    try:
        response = httpx.post(settings.webhook_url, json=payload, timeout=15)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.error(
            "could not call the webhook",
            extra={"url": redact_url(settings.webhook_url), "error": scrub(str(exc))},
        )
        return False
    return True


def deliver(settings: Settings, report: Report) -> None:
    send_email(settings, report)
    send_webhook(settings, report)
