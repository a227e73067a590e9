"""Retention: which complete backups a policy keeps, and why. Pure functions, no I/O.

Rules (any rule keeping a backup keeps it): the newest `last` backups; the newest backup of each of
the newest `daily` UTC days, `weekly` ISO weeks and `monthly` months that have backups. The newest
complete backup is always kept, whatever the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .settings import RetentionPolicy


@dataclass(frozen=True)
class Candidate:
    id: str
    completed_at: datetime


@dataclass
class Decision:
    id: str
    completed_at: datetime
    keep: bool
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(self.reasons) if self.keep else "no rule keeps it"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


_BUCKETS: list[tuple[str, Callable[[datetime], str]]] = [
    ("daily", lambda t: t.strftime("%Y-%m-%d")),
    ("weekly", lambda t: f"{t.isocalendar()[0]:04d}-W{t.isocalendar()[1]:02d}"),
    ("monthly", lambda t: t.strftime("%Y-%m")),
]


def plan(backups: Sequence[Candidate], policy: RetentionPolicy) -> list[Decision]:
    """One decision per backup, newest first."""
    ordered = sorted(backups, key=lambda b: (_utc(b.completed_at), b.id), reverse=True)
    decisions = [Decision(b.id, b.completed_at, False) for b in ordered]
    for index, decision in enumerate(decisions):
        if index == 0:
            decision.reasons.append("newest complete backup")
        if index < policy.last:
            decision.reasons.append(f"last {policy.last}")
    for rule, bucket_of in _BUCKETS:
        limit = getattr(policy, rule)
        seen: set[str] = set()
        for decision in decisions:
            bucket = bucket_of(_utc(decision.completed_at))
            if bucket in seen or len(seen) >= limit:
                continue
            seen.add(bucket)
            decision.reasons.append(f"{rule} {bucket}")
    for decision in decisions:
        decision.keep = bool(decision.reasons)
    return decisions
