"""Two runs of one backup type never overlap, even a manual Job next to a scheduled one.

`concurrencyPolicy: Forbid` only covers Jobs the CronJob controller makes, so the tool locks itself:
a PostgreSQL advisory lock for database backups, a lock object with an expiry for the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from . import interrupt
from .dburl import PostgresTarget
from .errors import LockHeldError, NotFoundError
from .logs import get_logger
from .settings import BackupType
from .storage import Storage

log = get_logger("lock")


def advisory_key(name: str) -> int:
    return zlib.crc32(f"panel-backup:{name}".encode())


@contextlib.contextmanager
def postgres_lock(target: PostgresTarget, name: str) -> Iterator[None]:
    from .sources.postgres import connect  # psycopg2: only for PostgreSQL

    conn = connect(target)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(name),))
            if not cur.fetchone()[0]:
                raise LockHeldError(
                    f"another `panel-backup {name}` run holds the lock on database {target.dbname}; "
                    "this run stops without doing anything. Wait for the other run to finish",
                    stage="lock",
                )
        yield
    finally:
        with interrupt.shielded():
            conn.close()  # ends the session, which releases the advisory lock


def _lock_key(name: str) -> str:
    return f"locks/{name}.json"


@contextlib.contextmanager
def storage_lock(storage: Storage, name: BackupType | str, ttl_seconds: int) -> Iterator[None]:
    key = _lock_key(name)
    owner = uuid.uuid4().hex
    now = datetime.now(UTC)
    record = {
        "owner": owner,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": now.isoformat(),
        "expires_at": (now + timedelta(seconds=ttl_seconds)).isoformat(),
    }
    payload = json.dumps(record).encode()
    for _attempt in range(2):
        if storage.put_bytes_if_absent(key, payload):
            break
        try:
            held = json.loads(storage.get_bytes(key))
            expires = datetime.fromisoformat(held["expires_at"])
        except NotFoundError:
            continue  # released between our two calls: try again
        except (ValueError, KeyError):
            held, expires = {}, now  # an unreadable lock is treated as expired
        if expires <= now:
            log.warning("removing an expired lock", extra={"key": key, "holder": held.get("host")})
            storage.delete(key)
            continue
        raise LockHeldError(
            f"another `panel-backup {name}` run holds the lock since {held.get('acquired_at')} "
            f"(host {held.get('host')}, pid {held.get('pid')}); this run stops without doing anything. "
            f"The lock expires at {held.get('expires_at')}; if that run is dead, delete {key} in the target",
            stage="lock",
        )
    else:
        raise LockHeldError(f"could not take the lock {key}; another run keeps taking it", stage="lock")
    try:
        yield
    finally:
        with interrupt.shielded():
            try:
                current = json.loads(storage.get_bytes(key))
                if current.get("owner") == owner:
                    storage.delete(key)
            except Exception as exc:  # a lock left behind expires; do not hide the run's own result
                log.warning("could not release the lock", extra={"key": key, "error": str(exc)[:200]})
