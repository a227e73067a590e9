"""Retention: which complete backups a policy keeps, and why. Pure functions, no I/O.

Rules (any rule keeping a backup keeps it): the newest `last` backups; the newest backup of each of
the newest `daily` UTC days, `weekly` ISO weeks and `monthly` months that have backups. The newest
complete backup is always kept, whatever the policy, and so is any backup the caller protects (the one
`create` just made).

Backups dated in the future (a clock was wrong: the one that made them, or ours now) are kept and
reported, and take no place in the rules: with the clock behind, they would otherwise rank as the newest
and push out the backups made since.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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


FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks disagree a little; more than this is worth a warning


def in_future(moment: datetime, now: datetime | None = None) -> bool:
    return _utc(moment) - (now or datetime.now(UTC)) > FUTURE_TOLERANCE


def plan(
    backups: Sequence[Candidate],
    policy: RetentionPolicy,
    *,
    protect: Collection[str] = (),
    now: datetime | None = None,
) -> list[Decision]:
    """One decision per backup, newest first."""
    now = now or datetime.now(UTC)
    ordered = sorted(backups, key=lambda b: (_utc(b.completed_at), b.id), reverse=True)
    future = [
        Decision(b.id, b.completed_at, True, ["dated in the future"])
        for b in ordered
        if in_future(b.completed_at, now)
    ]
    decisions = [Decision(b.id, b.completed_at, False) for b in ordered if not in_future(b.completed_at, now)]
    for index, decision in enumerate(decisions):
        if index == 0:
            decision.reasons.append("newest complete backup")
        if decision.id in protect:
            decision.reasons.append("just created")
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
    for decision in future:
        if decision.id in protect:
            decision.reasons.append("just created")
    return future + decisions


def dated_in_future(backups: Sequence[Candidate], now: datetime | None = None) -> list[str]:
    """Warnings for backups completed after `now`: one clock (theirs or ours) is wrong, and retention,
    `latest` and the drill rank by that date."""
    now = now or datetime.now(UTC)
    warnings = []
    for backup in sorted(backups, key=lambda b: (_utc(b.completed_at), b.id)):
        if in_future(backup.completed_at, now):
            hours = (_utc(backup.completed_at) - now).total_seconds() / 3600
            warnings.append(
                f"backup {backup.id} is dated {_utc(backup.completed_at).isoformat()}, {hours:.1f} h in the "
                "future: the clock of the machine that made it, or of this one, is wrong (check NTP on "
                "both); it is kept and does not count as the newest until then"
            )
    return warnings
