"""What the server page shows of a server's check history: heartbeats, uptime, latency, errors.

Every figure is one indexed query over ``check_results`` (index ``server_id, checked_at``), aggregated
in the database, so a server with 30 days of checks every minute (43,200 rows) costs a few range
scans, never 43,200 Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Float, Integer, and_, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from panel.checks.history import history
from panel.models import CheckResult, utcnow

HEARTBEATS = 90
UPTIME_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
CHART_RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
CHART_BUCKETS = 120


@dataclass(frozen=True)
class Uptime:
    window: str
    checks: int
    up: int

    @property
    def percent(self) -> float | None:
        return None if self.checks == 0 else 100.0 * self.up / self.checks


@dataclass(frozen=True)
class LatencyBucket:
    index: int  # 0 .. CHART_BUCKETS from the start of the range
    start: datetime
    checks: int
    down: int
    avg_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class ErrorEntry:
    checked_at: datetime
    error: str


def heartbeats(session: Session, server_id: int) -> list[CheckResult]:
    """The last HEARTBEATS results, oldest first (the bar reads left to right)."""
    return list(reversed(history(session, server_id, limit=HEARTBEATS)))


def uptimes(session: Session, server_id: int, now: datetime | None = None) -> list[Uptime]:
    """Share of successful checks in each window, counted in one query."""
    now = now or utcnow()
    columns: list[ColumnElement[int]] = []
    for window in UPTIME_WINDOWS.values():
        since = CheckResult.checked_at >= now - window
        columns.append(func.count(case((since, 1))))
        columns.append(func.count(case((and_(since, CheckResult.up.is_(True)), 1))))
    longest = max(UPTIME_WINDOWS.values())
    row = session.execute(
        select(*columns).where(CheckResult.server_id == server_id, CheckResult.checked_at >= now - longest)
    ).one()
    return [
        Uptime(name, int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, name in enumerate(UPTIME_WINDOWS)
    ]


def _epoch_seconds(session: Session) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", CheckResult.checked_at)), Integer)
    return cast(func.strftime("%s", CheckResult.checked_at), Integer)


def latency(
    session: Session, server_id: int, span: timedelta, now: datetime | None = None
) -> list[LatencyBucket]:
    """Checks in ``span`` grouped into at most CHART_BUCKETS equal time buckets (average, max, down)."""
    now = now or utcnow()
    start = now - span
    width = max(1, int(span.total_seconds()) // CHART_BUCKETS)
    start_epoch = int(start.timestamp())
    bucket = ((_epoch_seconds(session) - start_epoch) // width).label("bucket")
    rows = session.execute(
        select(
            bucket,
            func.count(),
            func.count(case((CheckResult.up.is_(False), 1))),
            func.avg(cast(CheckResult.latency_ms, Float)),
            func.max(CheckResult.latency_ms),
        )
        .where(CheckResult.server_id == server_id, CheckResult.checked_at >= start)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    return [
        LatencyBucket(
            index=int(index),
            start=start + timedelta(seconds=int(index) * width),
            checks=int(checks),
            down=int(down),
            avg_ms=None if avg is None else float(avg),
            max_ms=None if peak is None else float(peak),
        )
        for index, checks, down, avg, peak in rows
    ]


def recent_errors(session: Session, server_id: int, limit: int = 10) -> list[ErrorEntry]:
    rows = session.execute(
        select(CheckResult.checked_at, CheckResult.error)
        .where(CheckResult.server_id == server_id, CheckResult.up.is_(False))
        .order_by(CheckResult.checked_at.desc())
        .limit(limit)
    ).all()
    return [ErrorEntry(checked_at, error or "down (no message)") for checked_at, error in rows]
