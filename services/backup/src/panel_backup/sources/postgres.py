"""PostgreSQL: `pg_dump -Fc` streamed from an exported snapshot, with row counts taken in that snapshot."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psycopg2
from psycopg2 import sql
from service_settings import scrub

from .. import interrupt
from ..dburl import PostgresTarget
from ..errors import BackupError, ConfigError, SourceError
from ..logs import get_logger

log = get_logger("postgres")
CANCEL_WAIT_SECONDS = 5  # how long a failed run waits for the server to stop a query it started


def find_tool(bin_dir: Path | None, name: str) -> str:
    if bin_dir:
        candidate = bin_dir / name
        if candidate.exists():
            return str(candidate)
        raise ConfigError(
            f"BACKUP_PG_BIN_DIR={bin_dir}: has no {name}; point it at the PostgreSQL client bin folder"
        )
    found = shutil.which(name)
    if not found:
        raise ConfigError(
            f"{name} not found on PATH; install the PostgreSQL client matching the server's major"
        )
    return found


def tool_version(tool: str) -> tuple[int, str]:
    """(major, full text) of `pg_dump --version` / `pg_restore --version`."""
    output = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", output)
    if not match:
        raise ConfigError(f"cannot tell the version of {tool} (it printed {output.strip()[:80]!r})")
    return int(match[1]), output.strip()


def connect(target: PostgresTarget) -> Any:
    try:
        return psycopg2.connect(**target.connect_kwargs())  # type: ignore[call-overload]
    except psycopg2.OperationalError as exc:
        raise BackupError(
            f"cannot connect to {target.describe()}: {scrub(str(exc)).strip()}", stage="connect"
        ) from None


def server_major(conn: Any) -> tuple[int, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
        number, text = cur.fetchone()
    return number // 10000, text


def preflight_versions(tool: str, conn: Any) -> dict[str, str]:
    """Refuse early when the client is older than the server: pg_dump would refuse at 2 a.m. instead."""
    client_major, client_text = tool_version(tool)
    major, text = server_major(conn)
    name = Path(tool).name
    if client_major < major:
        raise ConfigError(
            f"{name} is PostgreSQL {client_major} but the server is PostgreSQL {major}; "
            f"{name} must be the same "
            f"major or newer. Fix: use the backup image built with --build-arg PG_MAJOR={major}, or set "
            f"BACKUP_PG_BIN_DIR to a PostgreSQL {major}+ client"
        )
    return {"server_version": text, f"{name}_version": client_text}


def user_tables(cur: Any) -> list[tuple[str, str]]:
    cur.execute(
        """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        ORDER BY 1, 2
        """
    )
    return [(row[0], row[1]) for row in cur.fetchall()]


FINGERPRINT_METHOD = "postgresql: sum of hashtextextended(row::text, 0) per table, text settings fixed"
# Row text depends on these session settings; the backup and the drill both set them.
_TEXT_SETTINGS = (
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET TimeZone = 'UTC'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
)


def table_facts(
    conn: Any, *, fingerprints: bool = False, beside_pg_dump: bool = False
) -> tuple[dict[str, int], dict[str, str]]:
    """Per-table row counts and, optionally, content fingerprints, in the connection's transaction.

    A fingerprint is the sum (as an exact numeric) of a 64-bit hash of each row's text: independent of
    row order and physical layout, so a restored copy has the same one exactly when it holds the same
    rows. It reads every row (the count alone may use an index), hence optional.
    """
    counts: dict[str, int] = {}
    prints: dict[str, str] = {}
    with conn.cursor() as cur:
        if beside_pg_dump:
            # One backend, not a parallel scan with workers: the counts run while pg_dump streams, and
            # pg_dump's own backend is the critical path that extra workers would take CPU from.
            cur.execute("SET max_parallel_workers_per_gather = 0")
        if fingerprints:
            for statement in _TEXT_SETTINGS:
                cur.execute(statement)
        for schema, table in user_tables(cur):
            name = f"{schema}.{table}"
            relation = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            if fingerprints:
                cur.execute(
                    sql.SQL(
                        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text "
                        "FROM {} AS t"
                    ).format(relation)
                )
                count, prints[name] = cur.fetchone()
            else:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(relation))
                (count,) = cur.fetchone()
            counts[name] = int(count)
    return counts, prints


def row_counts(conn: Any) -> dict[str, int]:
    return table_facts(conn)[0]


def stop_query(conn: Any, worker: threading.Thread) -> bool:
    """Cancel the query `worker` runs on `conn` and wait a little for it to end; False if it did not.

    A frozen server answers neither the cancel request (libpq waits for it) nor the query, and
    neither may hold up a run that is failing or stopping (SIGTERM has a grace period, then SIGKILL).
    """
    canceller = threading.Thread(target=conn.cancel, name="cancel-query", daemon=True)
    canceller.start()
    canceller.join(CANCEL_WAIT_SECONDS)
    worker.join(CANCEL_WAIT_SECONDS)
    return not worker.is_alive()


def widen_pipe(stream: IO[bytes] | None, size: int = 1 << 20) -> None:
    """Grow a pipe's kernel buffer from 64 KiB to 1 MiB: fewer context switches between the processes."""
    if stream is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, size)


class ProcessReader:
    """Reads a child's stdout; at end-of-stream raises unless the child exited 0.

    Raising *before* returning the final EOF is what keeps a failed dump from becoming a backup.
    """

    def __init__(self, process: subprocess.Popen[bytes], name: str) -> None:
        self.process = process
        self.name = name
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        assert process.stdout is not None and process.stderr is not None
        self._stdout: IO[bytes] = process.stdout
        self._stderr_thread = threading.Thread(target=self._drain, args=(process.stderr,), daemon=True)
        self._stderr_thread.start()
        interrupt.register_child(process)  # SIGTERM stops it first, so its reader sees the end at once

    def _drain(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.stderr_tail.append(scrub(line.decode(errors="replace").rstrip()))

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stdout.read(size)
        if data:
            return data
        code = self.process.wait()
        interrupt.unregister_child(self.process)
        self._stderr_thread.join(timeout=10)
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            detail = "; ".join(self.stderr_tail) or "no message"
            raise SourceError(f"{self.name} {how}: {detail}", stage="source")
        return b""

    def stop(self) -> None:
        if self.process.poll() is None:
            interrupt.signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        interrupt.unregister_child(self.process)
        self._stderr_thread.join(timeout=10)


class PostgresDump:
    """Context manager: holds the snapshot transaction open while pg_dump reads from it.

    The exact row counts run in that same transaction (so they describe exactly what pg_dump saw),
    in a thread while pg_dump streams, rather than delaying the dump.
    """

    def __init__(self, target: PostgresTarget, pg_dump: str, *, fingerprints: bool = False) -> None:
        self.target = target
        self.pg_dump = pg_dump
        self.fingerprints = fingerprints
        self._prints: dict[str, str] = {}
        self.expected_size: int | None = None
        self._conn: Any = None
        self._base: dict[str, Any] = {}
        self._counts: dict[str, int] | None = None
        self._counts_error: BaseException | None = None
        self._counter: threading.Thread | None = None
        self.reader: ProcessReader | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The manifest's source record; waits for the row counts."""
        if self._counter is not None:
            self._counter.join()
        if self._counts_error is not None:
            raise SourceError(f"counting rows in the snapshot failed: {scrub(str(self._counts_error))}")
        facts: dict[str, Any] = {**self._base, "row_counts": self._counts or {}}
        if self.fingerprints:
            facts.update(table_fingerprints=self._prints, fingerprint_method=FINGERPRINT_METHOD)
        return facts

    def _count(self) -> None:
        try:
            self._counts, self._prints = table_facts(
                self._conn, fingerprints=self.fingerprints, beside_pg_dump=True
            )
        except BaseException as exc:
            self._counts_error = exc

    def __enter__(self) -> PostgresDump:
        self._conn = connect(self.target)
        versions = preflight_versions(self.pg_dump, self._conn)
        self._conn.rollback()  # the version query opened a transaction; the snapshot needs a fresh one
        self._conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot(), pg_database_size(current_database())")
            snapshot, self.expected_size = cur.fetchone()
        self._base = {
            "engine": "postgresql",
            "database": self.target.dbname,
            "host": self.target.host,
            "port": self.target.port,
            "snapshot": snapshot,
            "database_size": self.expected_size,
            **versions,
        }
        process = subprocess.Popen(
            [self.pg_dump, "--format=custom", "--compress=0", f"--snapshot={snapshot}", "--no-password"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.target.subprocess_env(),
            bufsize=1 << 20,
            start_new_session=True,  # its own process group: stopping it stops anything it started
        )
        widen_pipe(process.stdout)
        self.reader = ProcessReader(process, "pg_dump")
        self._counter = threading.Thread(target=self._count, name="row-counts", daemon=True)
        self._counter.start()
        log.info("pg_dump started", extra={"pid": process.pid, "snapshot": snapshot})
        return self

    def stop(self) -> None:
        """Stop pg_dump now (the run failed or was interrupted); `__exit__` does the rest."""
        if self.reader:
            self.reader.stop()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._conn is None:
            return
        counter = self._counter
        if counter is not None and counter.is_alive() and not stop_query(self._conn, counter):
            log.warning("the row counts did not stop; the server ends them with the session")
            return  # the connection is busy in that thread; closing it would wait for it too
        with contextlib.suppress(psycopg2.Error):
            # No ROLLBACK first: it waits for an answer a frozen server never sends. Closing ends the
            # session, and the server rolls the read-only snapshot transaction back itself.
            self._conn.close()
