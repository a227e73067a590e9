"""`create`: take one backup of the database, the files or the config, end to end."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import __version__, interrupt
from .crypto import EncryptionPlan, encryption_plan, fingerprint
from .dburl import is_sqlite, parse_postgres, sqlite_path
from .errors import ConfigError
from .locking import postgres_lock, storage_lock
from .logs import get_logger
from .manifest import Compression, Encryption, Manifest, new_backup_id, write_manifest
from .pipeline import Encoder
from .seal import seal
from .settings import BackupType, Settings
from .stages import StageTracker
from .storage import Storage

log = get_logger("create")


@dataclass
class Prepared:
    source: Any  # a context manager exposing .reader, .metadata, .expected_size
    lock: contextlib.AbstractContextManager[None]
    artifact_name: str
    artifact_format: str
    extra_metadata: dict[str, Any] = field(default_factory=dict)


def _prepare(settings: Settings, storage: Storage, backup_type: BackupType) -> Prepared:
    # Each source is imported when it is the one backed up (psycopg2, sqlite3, tarfile: start-up time).
    if backup_type == "database":
        if not settings.database_url:
            raise ConfigError("DATABASE_URL is not set; it names the database to back up")
        if is_sqlite(settings.database_url):
            from .sources.sqlite import SqliteSnapshot

            return Prepared(
                SqliteSnapshot(
                    sqlite_path(settings.database_url),
                    settings.work_dir,
                    fingerprints=settings.table_fingerprints,
                ),
                storage_lock(storage, "database", settings.lock_ttl_seconds),
                "database.sqlite3.zst.age",
                "sqlite3",
            )
        from .sources.postgres import PostgresDump, find_tool

        target = parse_postgres(settings.database_url)
        pg_dump = find_tool(settings.pg_bin_dir, "pg_dump")
        return Prepared(
            PostgresDump(target, pg_dump, fingerprints=settings.table_fingerprints),
            postgres_lock(target, "create database"),
            "database.pgdump.zst.age",
            "pg_dump-custom",
        )
    from .sources.tree import TarSource, config_entries, settings_document, walk_paths

    if backup_type == "files":
        if not settings.files_paths:
            raise ConfigError("BACKUP_FILES_PATHS is not set; list the folders to back up, comma-separated")
        paths, include, exclude = settings.files_paths, settings.files_include, settings.files_exclude
        return Prepared(
            TarSource(lambda: walk_paths(paths, include, exclude)),
            storage_lock(storage, "files", settings.lock_ttl_seconds),
            "files.tar.zst.age",
            "tar",
            {
                "paths": settings.files_paths,
                "include": settings.files_include,
                "exclude": settings.files_exclude,
            },
        )
    if not settings.config_dir:
        raise ConfigError("BACKUP_CONFIG_DIR is not set; point it at the mounted ConfigMap folder")
    entries, skipped = config_entries(
        settings.config_dir, settings.config_include_secrets, settings.config_secret_patterns
    )
    document = settings_document(settings.config_env_vars)
    return Prepared(
        TarSource(lambda: entries, {"config/panel-settings.json": document}),
        storage_lock(storage, "config", settings.lock_ttl_seconds),
        "config.tar.zst.age",
        "tar",
        {
            "config_dir": str(settings.config_dir),
            "skipped_as_secret": skipped,
            "secrets_included": settings.config_include_secrets,
        },
    )


def _remove_quietly(storage: Storage, keys: list[str | None]) -> None:
    for key in keys:
        if key:
            try:
                storage.delete(key)
            except Exception as exc:
                log.warning(
                    "could not remove an unfinished object", extra={"key": key, "error": str(exc)[:200]}
                )


def create_backup(
    settings: Settings, storage: Storage, backup_type: BackupType, tracker: StageTracker
) -> Manifest:
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    with tracker.stage("preflight"):
        plan: EncryptionPlan = encryption_plan(settings)
        prepared = _prepare(settings, storage, backup_type)
    backup_id = new_backup_id(backup_type, started_at)
    prefix = f"{backup_type}/{backup_id}"
    artifact_key = f"{prefix}/{prepared.artifact_name}"
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as held:
        with tracker.stage("lock"):
            held.enter_context(prepared.lock)  # held until the manifest is written
        with tracker.stage("source"):
            source = held.enter_context(prepared.source)
        timings["snapshot_seconds"] = round(time.monotonic() - clock, 3)
        wrapped_key = None
        if plan.wrapped_identity is not None:
            wrapped_key = f"{prefix}/identity.age"
            with tracker.stage("upload"):
                storage.put_bytes(wrapped_key, plan.wrapped_identity)
        encoder = Encoder(
            source.reader,
            plan.recipients,
            level=settings.zstd_level,
            threads=settings.zstd_threads,
            progress_interval=settings.progress_interval_seconds,
        )
        pipe = encoder.start()
        log.info("backup started", extra={"id": backup_id, "target": storage.describe()})
        try:
            with tracker.stage("upload"):
                storage.put_stream(artifact_key, pipe, source.expected_size)
        except BaseException:
            with interrupt.shielded():
                source.stop()  # first: a source still producing (or stalled) would hold the encoder
                encoder.abandon()
                _remove_quietly(storage, [wrapped_key])
            raise
        try:
            stats = encoder.finish()
            timings["stream_seconds"] = round(stats.seconds, 3)
            with tracker.stage("source"):
                metadata = {**source.metadata, **prepared.extra_metadata}
        except BaseException:
            with interrupt.shielded():
                _remove_quietly(storage, [artifact_key, wrapped_key])  # data without a manifest: clutter
            raise
        with tracker.stage("manifest"):
            manifest = Manifest(
                id=backup_id,
                type=backup_type,
                artifact_key=artifact_key,
                artifact_format=prepared.artifact_format,
                tool_version=__version__,
                started_at=started_at,
                completed_at=datetime.now(UTC),
                plain_size=stats.plain_size,
                stored_size=stats.stored_size,
                stored_sha256=stats.stored_sha256,
                compression=Compression(level=settings.zstd_level, content_checksum=True),
                encryption=Encryption(
                    mode=plan.mode,  # type: ignore[arg-type]
                    recipient_fingerprints=[fingerprint(text) for text in plan.recipient_texts],
                    wrapped_identity_key=wrapped_key,
                ),
                source=metadata,
                timings={**timings, "total_seconds": round(time.monotonic() - clock, 3)},
            )
            manifest.seal = seal(manifest, plan.recipients)
            try:
                write_manifest(storage, manifest)  # last: only now does the backup exist
            except BaseException:
                with interrupt.shielded():
                    _remove_quietly(storage, [artifact_key, wrapped_key])
                raise
    log.info(
        "backup complete",
        extra={
            "id": backup_id,
            "plain_bytes": stats.plain_size,
            "stored_bytes": stats.stored_size,
            "seconds": manifest.timings["total_seconds"],
            "mb_per_s": round(stats.plain_size / 1e6 / max(stats.seconds, 1e-6), 1),
        },
    )
    return manifest
