"""`drill`: restore the newest database backup into a scratch database, compare, drop it, time it.

The duration is a recovery-time estimate that someone actually measured.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import interrupt
from .dburl import PostgresTarget, is_sqlite, parse_postgres
from .errors import ConfigError, IntegrityError
from .logs import get_logger
from .manifest import find_manifest
from .restore import drop_database, remove_database, restore_postgres, restore_sqlite
from .settings import Settings
from .sources.postgres import connect, stop_query, table_facts
from .sources.sqlite import sqlite_table_facts
from .storage import Storage

log = get_logger("drill")
T = TypeVar("T")


def cancellable(target: PostgresTarget, query: Callable[[Any], T]) -> T:
    """Run a long query on its own connection in a thread, so that a stop signal reaches the main
    thread (psycopg2 holds it until the server answers) and cancels the query on the server."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["conn"] = conn = connect(target)
            try:
                result["value"] = query(conn)
            finally:
                conn.close()
        except BaseException as exc:
            result["error"] = exc

    worker = threading.Thread(target=run, name="drill-query", daemon=True)
    worker.start()
    try:
        worker.join()
    except BaseException:
        if "conn" in result:
            stop_query(result["conn"], worker)
        raise
    if "error" in result:
        raise result["error"]
    return result["value"]


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = []
    for table, rows in sorted(expected.items()):
        if table not in actual:
            problems.append(f"{table}: missing after restore (expected {rows} rows)")
        elif actual[table] != rows:
            problems.append(f"{table}: {actual[table]} rows after restore, {rows} in the backup's snapshot")
    for table in sorted(set(actual) - set(expected)):
        problems.append(f"{table}: present after restore but not in the manifest")
    return problems


def compare_fingerprints(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    return [
        f"{table}: content differs from the backup's snapshot (fingerprint {actual.get(table)}, "
        f"recorded {value})"
        for table, value in sorted(expected.items())
        if table in actual and actual[table] != value
    ]


def run_drill(settings: Settings, storage: Storage, *, deep: bool = False) -> dict[str, Any]:
    """Restore the newest database backup into scratch, compare row counts (and with `deep`, per-table
    content fingerprints) with what the backup recorded in its snapshot, drop the scratch copy."""
    manifest = find_manifest(storage, "latest", "database")
    expected: dict[str, int] = dict(manifest.source.get("row_counts", {}))
    expected_prints: dict[str, str] = dict(manifest.source.get("table_fingerprints", {}))
    if deep and not expected_prints:
        raise ConfigError(
            f"drill --deep: backup {manifest.id} recorded no table fingerprints; set "
            "BACKUP_TABLE_FINGERPRINTS=true where backups are made, then drill the next one"
        )
    started = time.monotonic()
    if manifest.source.get("engine") == "sqlite":
        fd, name = tempfile.mkstemp(prefix="panel-backup-drill-", suffix=".db", dir=settings.work_dir)
        os.close(fd)
        scratch_path = Path(name)
        try:
            restore_sqlite(settings, storage, manifest, scratch_path, force=True)
            restored_at = time.monotonic()
            with contextlib.closing(sqlite3.connect(scratch_path)) as sqlite_conn:
                actual, prints = sqlite_table_facts(sqlite_conn, fingerprints=deep)
        finally:
            scratch_path.unlink(missing_ok=True)
        scratch = str(scratch_path)
    else:
        if not settings.database_url or is_sqlite(settings.database_url):
            raise ConfigError(
                "drill restores into a scratch database on DATABASE_URL's server; set a postgresql:// URL"
            )
        server = parse_postgres(settings.database_url)
        scratch = f"panel_drill_{secrets.token_hex(4)}"
        target = server.with_dbname(scratch)
        try:
            restore_postgres(settings, storage, manifest, target, force=False)  # creates the scratch db
            restored_at = time.monotonic()
            actual, prints = cancellable(target, lambda c: table_facts(c, fingerprints=deep))
        except BaseException as exc:
            with interrupt.shielded():
                removed, note = remove_database(target, "the drill created")
                if not removed:
                    exc.add_note(note)  # (a failed restore already removed it and said so)
            raise
        else:
            with interrupt.shielded():
                drop_database(server, scratch)
    problems = compare_counts(expected, actual)
    if deep:
        problems += compare_fingerprints(expected_prints, prints)
    result = {
        "backup_id": manifest.id,
        "backup_age_hours": round(manifest.age_seconds() / 3600, 2),
        "scratch": scratch,
        "deep": deep,
        "tables": len(actual),
        "rows": sum(actual.values()),
        "fingerprints_compared": len(expected_prints) if deep else 0,
        "restore_seconds": round(restored_at - started, 3),
        "rto_estimate_seconds": round(time.monotonic() - started, 3),
        "ok": not problems,
        "problems": problems,
    }
    if problems:
        raise IntegrityError(f"drill of {manifest.id} found differences: " + "; ".join(problems))
    return result
