"""A short-lived Redis cache of each user's auth state, so a signed-in request needs no database.

The per-request loader needs only (id, username, role, is_active, credential generation). Entries
live under a key that embeds a users *generation*; every committed change to a ``User`` row made
through the ORM (API, CLI, OIDC provisioning, sign-in stamps, bulk ``query(User).update()``) bumps
the generation after the commit, so disabling a user or changing a role counts from the very next
request, in every worker. The generation is read before the database when filling the cache, so an
entry computed from pre-commit data lands under an already-stale key. Changes made outside the ORM
(raw SQL in psql) are picked up when the entry expires (``AUTH_CACHE_TTL_SECONDS``). A Redis outage
degrades to a database lookup on every request; it never fails one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from panel import generations
from panel.models import User
from panel.redis_lookup import Found, Lookup, lookup_many

GENERATION_KEY = "panel:auth:users-generation"
_ENTRY_PREFIX = "panel:auth:user2:"  # "2": entries carry credential_generation
_CHANGED = "panel_users_changed"  # Session.info flag: a User row changed in this transaction
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthenticatedUser:
    """What the request needs to know about its caller (not an ORM object: no database behind it)."""

    id: int
    username: str
    role: str
    is_active: bool
    credential_generation: int = 0  # see panel.credentials

    @classmethod
    def of(cls, user: User) -> AuthenticatedUser:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            is_active=user.is_active,
            credential_generation=user.credential_generation or 0,
        )


class UserCache:
    def __init__(
        self, client: redis.Redis, ttl_seconds: int, watcher: generations.Watcher | None = None
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        # In-process copies under generation-embedding keys (see panel.generations): a hit needs no Redis.
        self._watcher = watcher
        self._local: generations.Local[AuthenticatedUser] = generations.Local(4096, max(ttl_seconds, 1))

    def get(
        self,
        user_id: int,
        load: Callable[[int], User | None],
        also: Sequence[Lookup] = (),
        found_also: dict[Lookup, Found] | None = None,
    ) -> AuthenticatedUser | None:
        """The auth state of ``user_id`` (active or not), or None when no such user exists.

        ``also``: other generation-keyed entries to read in the same Redis round trip; their results
        land in ``found_also`` (nothing when Redis is unreachable or this cache is disabled).
        """
        if self._ttl <= 0:
            return _state(load(user_id))
        own = Lookup(GENERATION_KEY, _ENTRY_PREFIX, f":{user_id}")
        generation = self._watcher.current(GENERATION_KEY) if self._watcher else None
        if generation is not None:
            local = self._local.get(own.prefix + generation + own.suffix)
            if local is not None:
                return local
        try:
            entry, *others = lookup_many(self._client, [own, *also])
        except redis.RedisError:
            log.warning("user cache read failed: Redis unreachable")
            return _state(load(user_id))
        if found_also is not None:
            found_also.update(zip(also, others, strict=True))
        if entry.value is not None:
            cached = AuthenticatedUser(**json.loads(entry.value))
            self._local.put(entry.key, cached)
            return cached
        state = _state(load(user_id))
        if state is not None:
            self._local.put(entry.key, state)
            try:
                self._client.set(entry.key, json.dumps(asdict(state)), ex=self._ttl)
            except redis.RedisError:
                log.warning("user cache write failed: Redis unreachable")
        return state

    def invalidate(self) -> None:
        """Make every cached auth state stale (called after a commit that changed a user)."""
        try:
            value = generations.bump(self._client, GENERATION_KEY)
        except redis.RedisError:
            log.warning("user cache invalidation failed: Redis unreachable")
            return
        if self._watcher is not None:
            self._watcher.observe(GENERATION_KEY, value)

    def watch(self, factory: sessionmaker[Session]) -> None:
        """Invalidate after every commit of a session from ``factory`` that changed a User row."""
        event.listen(factory, "before_flush", _mark_flushed_users)
        event.listen(factory, "do_orm_execute", _mark_bulk_user_statements)
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_rollback", _clear_mark)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.invalidate()


def _state(user: User | None) -> AuthenticatedUser | None:
    return None if user is None else AuthenticatedUser.of(user)


def _mark_flushed_users(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    if any(isinstance(obj, User) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


def _mark_bulk_user_statements(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(m.class_ is User for m in state.all_mappers):
        state.session.info[_CHANGED] = True


def _clear_mark(session: Session) -> None:
    session.info.pop(_CHANGED, None)
