"""Check history (contract C3): every check result is stored through ``record_result``, and only there.

``record_result`` adds one ``check_results`` row, updates the server's current status and last result,
and audits a change of status, all in the caller's session; the caller commits (a batch of results
commits together) and then invalidates the read cache. This is the one place a check result lands, so
whatever must happen on every result, or on a change of status (notifications), belongs here.

``prune`` deletes history older than ``CHECK_HISTORY_DAYS`` (default 30); the worker runs it with
every periodic check-all round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from panel import audit
from panel.models import CheckResult, Server, ServerStatus, utcnow
from panel.notifications import state as notification_state

MAX_ERROR_LENGTH = 500  # an error line from the probe; anything longer is cut, never stored whole
PRUNE_BATCH_ROWS = 5000  # rows deleted per statement, so pruning never holds long locks


@dataclass(frozen=True)
class CheckOutcome:
    """What one probe found."""

    up: bool
    checked_at: datetime
    latency_ms: float | None = None
    error: str | None = None
    # Protocol-specific facts shown with the server's last result (e.g. ``http_status``).
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_result(self) -> dict[str, Any]:
        """The server's ``last_check_result`` (and a check job's result) as the API shows it."""
        result: dict[str, Any] = {
            "up": self.up,
            "latency_ms": self.latency_ms,
            "checked_at": _utc(self.checked_at).isoformat(),
        }
        if self.error is not None:
            result["error"] = self.error
        result.update(self.details)
        return result


@dataclass(frozen=True)
class Recorded:
    """The stored row, and the server's status before and after this result."""

    row: CheckResult
    previous_status: str
    status: str

    @property
    def changed(self) -> bool:
        return self.previous_status != self.status


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record_result(session: Session, server: Server, outcome: CheckOutcome) -> Recorded:
    """Store one check result of ``server`` in ``session`` (not committed; see the module docstring)."""
    checked_at = _utc(outcome.checked_at)
    error = outcome.error[:MAX_ERROR_LENGTH] if outcome.error else None
    row = CheckResult(
        server_id=server.id,
        checked_at=checked_at,
        up=outcome.up,
        latency_ms=outcome.latency_ms,
        error=error,
    )
    session.add(row)
    previous = server.status
    status = ServerStatus.UP.value if outcome.up else ServerStatus.DOWN.value
    if status != previous:
        change = {"status": {"old": previous, "new": status}}
        audit.record(session, "server.status", "server", server.id, changes=change)
    server.status = status
    server.last_check_at = checked_at
    server.last_check_result = outcome.as_result()
    notification_state.on_result(session, server, outcome.up, checked_at, error)
    return Recorded(row=row, previous_status=previous, status=status)


def history(
    session: Session, server_id: int, limit: int = 100, before: datetime | None = None
) -> list[CheckResult]:
    """The newest results of one server (newest first), optionally those checked before ``before``."""
    statement = select(CheckResult).where(CheckResult.server_id == server_id)
    if before is not None:
        statement = statement.where(CheckResult.checked_at < _utc(before))
    statement = statement.order_by(CheckResult.checked_at.desc(), CheckResult.id.desc()).limit(limit)
    return list(session.scalars(statement))


def prune(session: Session, keep_days: int, now: datetime | None = None) -> int:
    """Delete results checked more than ``keep_days`` days ago, in batches; commits; returns the count."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    deleted = 0
    while True:
        batch = select(CheckResult.id).where(CheckResult.checked_at < cutoff).limit(PRUNE_BATCH_ROWS)
        ids = list(session.scalars(batch))
        if not ids:
            return deleted
        session.execute(delete(CheckResult).where(CheckResult.id.in_(ids)))
        session.commit()
        deleted += len(ids)
