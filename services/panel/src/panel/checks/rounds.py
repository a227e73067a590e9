"""The state of check-all rounds in Redis: one lease (so rounds never stack) and each round's progress.

- Lease ``panel:checks:round-lease``: a redis-py Lock whose token is the running round's id, held for
  ``LEASE_SECONDS`` and extended by the worker with every batch of results. A round that finds it held
  is skipped (and counted); a worker killed mid-round (kill -9) stops extending it, so the lease
  expires and the next round runs.
- Progress ``panel:checks:round:<id>``: a hash (state, trigger, total, done, up, down, started_at,
  finished_at, error) kept for a day; the job API shows it as the check-all job's status and result.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.lock import Lock

from panel.models import utcnow

LEASE_KEY = "panel:checks:round-lease"
LEASE_SECONDS = 60
PROGRESS_KEY = "panel:checks:round:{round_id}"
PROGRESS_TTL_SECONDS = 24 * 3600
RUNNING, FINISHED, INTERRUPTED, SKIPPED = "running", "finished", "interrupted", "skipped"
_COUNTS = ("total", "done", "up", "down")


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def lease(client: redis.Redis) -> Lock:
    return client.lock(LEASE_KEY, timeout=LEASE_SECONDS, thread_local=False)


def acquire(client: redis.Redis, round_id: str) -> Lock | None:
    """The round lease for ``round_id``, or None when another round holds it."""
    lock = lease(client)
    return lock if lock.acquire(blocking=False, token=round_id) else None


def running_round(client: redis.Redis) -> str | None:
    return _text(client.get(LEASE_KEY))


def _key(round_id: str) -> str:
    return PROGRESS_KEY.format(round_id=round_id)


def start(client: redis.Redis, round_id: str, trigger: str) -> None:
    fields: dict[Any, Any] = {"state": RUNNING, "trigger": trigger, "started_at": utcnow().isoformat()}
    fields.update(dict.fromkeys(_COUNTS, "0"))
    with client.pipeline() as pipe:
        pipe.hset(_key(round_id), mapping=fields)
        pipe.expire(_key(round_id), PROGRESS_TTL_SECONDS)
        pipe.execute()


def skipped(client: redis.Redis, round_id: str, trigger: str, running: str | None) -> None:
    now = utcnow().isoformat()
    fields: dict[Any, Any] = {"state": SKIPPED, "trigger": trigger, "started_at": now, "finished_at": now}
    fields["running_round"] = running or ""
    with client.pipeline() as pipe:
        pipe.hset(_key(round_id), mapping=fields)
        pipe.expire(_key(round_id), PROGRESS_TTL_SECONDS)
        pipe.execute()


def set_total(client: redis.Redis, round_id: str, total: int) -> None:
    client.hset(_key(round_id), "total", str(total))


def add(client: redis.Redis, round_id: str, done: int, up: int) -> None:
    with client.pipeline() as pipe:
        pipe.hincrby(_key(round_id), "done", done)
        pipe.hincrby(_key(round_id), "up", up)
        pipe.hincrby(_key(round_id), "down", done - up)
        pipe.execute()


def finish(client: redis.Redis, round_id: str, state: str, error: str | None = None) -> None:
    fields: dict[Any, Any] = {"state": state, "finished_at": utcnow().isoformat()}
    if error:
        fields["error"] = error
    client.hset(_key(round_id), mapping=fields)


def progress(client: redis.Redis, round_id: str) -> dict[str, Any] | None:
    """The round as the job API shows it, or None when unknown (expired, or not a round).

    A round still marked running whose lease is gone was interrupted (its worker died).
    """
    raw = client.hgetall(_key(round_id))
    if not raw:
        return None
    fields = {_text(k): _text(v) for k, v in raw.items()}
    state = fields.get("state") or RUNNING
    if state == RUNNING and running_round(client) != round_id:
        state = INTERRUPTED
        fields.setdefault("error", "the worker running this round stopped; the next round checks again")
    shown: dict[str, Any] = {"state": state, "trigger": fields.get("trigger")}
    for name in _COUNTS:
        if fields.get(name) is not None:
            shown[name] = int(fields[name] or 0)
    for name in ("started_at", "finished_at", "error", "running_round"):
        if fields.get(name):
            shown[name] = fields[name]
    return shown
