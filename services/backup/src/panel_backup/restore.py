"""`restore`: stream a backup back into a PostgreSQL database, a SQLite file, or a folder."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2

from . import interrupt
from .archive import extract
from .crypto import fingerprint, restore_identities
from .dburl import PostgresTarget, is_sqlite, parse_postgres, sqlite_path
from .errors import BackupError, ConfigError, IntegrityError
from .logs import get_logger
from .manifest import Manifest, check_stored_size
from .pipeline import DecodeThread, StreamStats, decode
from .seal import check_seal
from .settings import Settings
from .sources.postgres import ProcessReader, connect, find_tool, tool_version, user_tables, widen_pipe
from .stages import describe_error
from .storage import Storage

log = get_logger("restore")


def identities_for(settings: Settings, storage: Storage, manifest: Manifest) -> list[Any]:
    wrapped = None
    if manifest.encryption.wrapped_identity_key:
        wrapped = storage.get_bytes(manifest.encryption.wrapped_identity_key)
    return restore_identities(settings, wrapped)


@contextlib.contextmanager
def _maintenance_cursor(server: PostgresTarget) -> Iterator[Any]:
    """A cursor on the server's `postgres` database in autocommit (CREATE/DROP DATABASE need it)."""
    conn = connect(server.with_dbname("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def database_exists(server: PostgresTarget, name: str) -> bool:
    with _maintenance_cursor(server) as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def create_database(server: PostgresTarget, name: str) -> None:
    with _maintenance_cursor(server) as cur:
        cur.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))


def drop_database(server: PostgresTarget, name: str) -> None:
    with _maintenance_cursor(server) as cur:
        cur.execute(
            psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg2.sql.Identifier(name))
        )


def resolve_postgres_target(settings: Settings, to: str) -> PostgresTarget:
    """`--to` is a database name on DATABASE_URL's server (credentials stay off argv) or a full URL."""
    if "://" in to:
        return parse_postgres(to)
    if not settings.database_url or is_sqlite(settings.database_url):
        raise ConfigError(
            "--to names a database, but DATABASE_URL is not a PostgreSQL URL to take the server from; "
            "pass a postgresql:// URL or set DATABASE_URL"
        )
    return parse_postgres(settings.database_url).with_dbname(to)


def preflight(settings: Settings, storage: Storage, manifest: Manifest) -> tuple[list[Any], str]:
    """Everything a restore can check before it changes anything: the key loads and is one the backup
    was encrypted to, the manifest's seal matches (its facts are as written), and the data object is
    there with the manifest's size. Returns the identities and the seal's state."""
    identities = identities_for(settings, storage, manifest)
    recorded = set(manifest.encryption.recipient_fingerprints)
    if manifest.encryption.mode == "x25519" and recorded:
        ours = {fingerprint(str(identity.to_public())) for identity in identities}
        if not ours & recorded:
            raise ConfigError(
                f"the age identity does not match any recipient of {manifest.id}; use the key file whose "
                "public key the backup was encrypted to (`panel-backup list --json` shows "
                "encryption.recipient_fingerprints)"
            )
    sealed = check_seal(manifest, identities)
    check_stored_size(storage, manifest)
    return identities, sealed


def decode_checks(settings: Settings, manifest: Manifest) -> dict[str, Any]:
    """What decoding a backup checks against its manifest (both SHA-256) and how it reports."""
    return {
        "expected_stored_sha256": manifest.stored_sha256,
        "expected_plain_sha256": manifest.plain_sha256,
        "progress_interval": settings.progress_interval_seconds,
        "what": manifest.id,
    }


def restore_postgres(
    settings: Settings, storage: Storage, manifest: Manifest, target: PostgresTarget, *, force: bool
) -> StreamStats:
    pg_restore = find_tool(settings.pg_bin_dir, "pg_restore")
    made_by = str(manifest.source.get("pg_dump_version", ""))
    client_major, _ = tool_version(pg_restore)
    with contextlib.suppress(ValueError, IndexError):
        dump_major = int(made_by.split("(PostgreSQL)")[1].split()[0].split(".")[0])
        if client_major < dump_major:
            raise ConfigError(
                f"pg_restore is PostgreSQL {client_major} but the dump was made by pg_dump {dump_major}; "
                f"use a PostgreSQL {dump_major}+ client (BACKUP_PG_BIN_DIR or the image's PG_MAJOR)"
            )
    identities, _sealed = preflight(settings, storage, manifest)
    created = not database_exists(target, target.dbname)
    if not created and not force:
        conn = connect(target)
        try:
            with conn.cursor() as cur:
                tables = user_tables(cur)
        finally:
            conn.close()
        if tables:
            raise ConfigError(
                f"database {target.dbname} is not empty ({len(tables)} tables); restore into a new database "
                "name, or pass --force to replace its contents"
            )
    if created:
        create_database(target, target.dbname)
        log.info("created the target database", extra={"database": target.dbname})
    try:
        return _pg_restore(settings, storage, manifest, target, pg_restore, identities, force=force)
    except BaseException as exc:
        with interrupt.shielded():
            if created:
                exc.add_note(remove_database(target, "this restore created")[1])
            else:
                exc.add_note(f"database {target.dbname} may hold a partial restore")
        raise


def remove_database(target: PostgresTarget, why: str) -> tuple[bool, str]:
    """Drop a database the run created: (whether it is gone, a note saying what happened). Never
    raises: it runs while another error is on its way out, which it must not replace."""
    try:
        drop_database(target, target.dbname)
    except Exception as exc:
        log.warning("could not drop a database", extra={"database": target.dbname, "error": str(exc)[:300]})
        reason = describe_error(exc)[:120]
        return False, f"could not remove the database {target.dbname} {why} ({reason}); drop it by hand"
    return True, f"removed the database {target.dbname} {why}"


def _pg_restore(
    settings: Settings,
    storage: Storage,
    manifest: Manifest,
    target: PostgresTarget,
    pg_restore: str,
    identities: list[Any],
    *,
    force: bool,
) -> StreamStats:
    command = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={target.dbname}"]
    if force:
        command += ["--clean", "--if-exists"]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=target.subprocess_env(),
        start_new_session=True,  # its own process group: stopping it stops anything it started
    )
    widen_pipe(process.stdin)
    watcher = ProcessReader(process, "pg_restore")  # drains stderr, reports the exit status
    assert process.stdin is not None
    try:
        with storage.open_read(manifest.artifact_key) as body:
            stats = decode(
                body,
                process.stdin,
                identities,
                **decode_checks(settings, manifest),
            )
        process.stdin.close()
    except BrokenPipeError:
        pass  # pg_restore stopped reading; its exit status below says why
    except BaseException:
        watcher.stop()
        raise
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    while watcher.read(1 << 16):  # raises with pg_restore's own message on a non-zero exit
        pass
    return stats


def restore_sqlite(
    settings: Settings, storage: Storage, manifest: Manifest, to: Path, *, force: bool
) -> StreamStats:
    if to.exists() and to.stat().st_size > 0 and not force:
        raise ConfigError(f"{to} exists and is not empty; choose a new path, or pass --force to replace it")
    identities, _sealed = preflight(settings, storage, manifest)
    to.parent.mkdir(parents=True, exist_ok=True)
    partial = to.with_name(f".{to.name}.partial-{secrets.token_hex(4)}")
    try:
        # 0600: the database holds password hashes and tokens.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with storage.open_read(manifest.artifact_key) as body, os.fdopen(fd, "wb") as out:
            stats = decode(
                body,
                out,
                identities,
                **decode_checks(settings, manifest),
            )
        os.replace(partial, to)
    finally:
        partial.unlink(missing_ok=True)
    return stats


def restore_tree(
    settings: Settings, storage: Storage, manifest: Manifest, to: Path, *, force: bool
) -> StreamStats:
    if to.exists() and not to.is_dir():
        raise ConfigError(f"--to {to} is not a directory")
    was_there = to.exists()
    if was_there and any(to.iterdir()) and not force:
        raise ConfigError(
            f"{to} is not empty; restore into an empty folder, or pass --force to write into it"
        )
    was_empty = not was_there or not any(to.iterdir())
    identities, _sealed = preflight(settings, storage, manifest)
    to.mkdir(parents=True, exist_ok=True)
    try:
        with (
            storage.open_read(manifest.artifact_key) as body,
            DecodeThread(
                body,
                identities,
                **decode_checks(settings, manifest),
            ) as decoder,
        ):
            try:
                extract(decoder.pipe, to)
            except (tarfile.TarError, OSError) as exc:
                cause = decoder.stop()  # a damaged object or a wrong key explains more than tar can
                if cause is not None:
                    raise cause from None
                if isinstance(exc, OSError):
                    raise BackupError(f"restoring {manifest.id} failed: {describe_error(exc)}") from None
                raise IntegrityError(f"{manifest.id}: not a readable tar archive ({exc})") from None
            return decoder.finish()
    except BaseException as exc:
        with interrupt.shielded():
            _undo_tree(to, exc, created=not was_there, was_empty=was_empty)
        raise


def _undo_tree(to: Path, exc: BaseException, *, created: bool, was_empty: bool) -> None:
    """Remove what a failed restore wrote, when that can be told apart from what was there before."""
    if created:
        shutil.rmtree(to, ignore_errors=True)  # never follows links: it removes them
        exc.add_note(f"removed the partly restored folder {to}")
    elif was_empty:
        for child in list(to.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        exc.add_note(f"emptied {to} again")
    else:
        exc.add_note(f"{to} may hold partly restored files (it was not empty: --force)")


def restore(settings: Settings, storage: Storage, manifest: Manifest, to: str, *, force: bool) -> StreamStats:
    if manifest.type == "database":
        if manifest.source.get("engine") == "sqlite":
            return restore_sqlite(settings, storage, manifest, Path(to), force=force)
        return restore_postgres(
            settings, storage, manifest, resolve_postgres_target(settings, to), force=force
        )
    return restore_tree(settings, storage, manifest, Path(to), force=force)


def sqlite_target_path(settings: Settings) -> Path | None:
    if settings.database_url and is_sqlite(settings.database_url):
        return sqlite_path(settings.database_url)
    return None
