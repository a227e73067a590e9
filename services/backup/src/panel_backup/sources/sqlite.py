"""SQLite: a consistent copy through the online backup API, streamed and then removed.

The backup API writes to a database, so the copy lands in BACKUP_WORK_DIR (mode 0600) for the
duration of the upload; this is the only source that touches local disk, and SQLite here is the
small embedded default of `make up`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..errors import ConfigError, SourceError

SQLITE_FINGERPRINT_METHOD = "sqlite: sum mod 2**64 of blake2b-8 of repr(row) per table"


def sqlite_table_facts(
    conn: sqlite3.Connection, *, fingerprints: bool = False
) -> tuple[dict[str, int], dict[str, str]]:
    """Per-table row counts and, optionally, order-independent content fingerprints (see postgres.py)."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts: dict[str, int] = {}
    prints: dict[str, str] = {}
    for name in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        if not fingerprints:
            counts[name] = int(conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])  # noqa: S608
            continue
        total, count = 0, 0
        for row in conn.execute(f"SELECT * FROM {quoted}"):  # noqa: S608 - a quoted identifier
            digest = hashlib.blake2b(repr(tuple(row)).encode(), digest_size=8).digest()
            total = (total + int.from_bytes(digest, "big")) % (1 << 64)
            count += 1
        counts[name], prints[name] = count, str(total)
    return counts, prints


def sqlite_row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return sqlite_table_facts(conn)[0]


class SqliteSnapshot:
    def __init__(self, path: Path, work_dir: Path, *, fingerprints: bool = False) -> None:
        self.path = path
        self.work_dir = work_dir
        self.fingerprints = fingerprints
        self.metadata: dict[str, Any] = {}
        self.expected_size: int | None = None
        self.reader: IO[bytes] | None = None
        self._copy: Path | None = None

    def __enter__(self) -> SqliteSnapshot:
        if not self.path.is_file():
            raise ConfigError(
                f"DATABASE_URL points to {self.path}, which does not exist; start the panel once (it creates "
                "the database) or fix the path"
            )
        fd, name = tempfile.mkstemp(prefix="panel-backup-sqlite-", suffix=".db", dir=self.work_dir)
        os.close(fd)
        self._copy = Path(name)
        try:
            source = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
            copy = sqlite3.connect(self._copy)
            with contextlib.closing(source), contextlib.closing(copy):
                source.backup(copy)
                counts, prints = sqlite_table_facts(copy, fingerprints=self.fingerprints)
        except sqlite3.Error as exc:
            self._cleanup()
            raise SourceError(f"SQLite backup of {self.path} failed: {exc}", stage="source") from None
        self.expected_size = self._copy.stat().st_size
        self.metadata = {
            "engine": "sqlite",
            "path": str(self.path),
            "sqlite_version": sqlite3.sqlite_version,
            "row_counts": counts,
        }
        if self.fingerprints:
            self.metadata.update(table_fingerprints=prints, fingerprint_method=SQLITE_FINGERPRINT_METHOD)
        self.reader = open(self._copy, "rb")
        return self

    def stop(self) -> None:
        """Nothing runs in the background: the copy is read from a local file."""

    def _cleanup(self) -> None:
        if self._copy:
            self._copy.unlink(missing_ok=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.reader:
            self.reader.close()
        self._cleanup()
