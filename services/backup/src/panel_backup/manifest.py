"""Manifests: the record of one complete backup, written last. Nothing else is trusted.

Layout in the target:  <type>/<id>/<artifact>   and   <type>/<id>/manifest.json
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .errors import NotFoundError
from .logs import get_logger
from .retention import in_future
from .settings import BACKUP_TYPES, BackupType
from .storage import Storage

log = get_logger("manifest")
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class Encryption(BaseModel):
    scheme: Literal["age"] = "age"
    mode: Literal["x25519", "passphrase"]
    recipient_fingerprints: list[str]
    wrapped_identity_key: str | None = None  # passphrase mode: the object holding the wrapped identity


class Compression(BaseModel):
    algorithm: Literal["zstd"] = "zstd"
    level: int


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    status: Literal["complete"] = "complete"
    id: str
    type: BackupType
    artifact_key: str
    artifact_format: str  # e.g. "pg_dump-custom", "sqlite3", "tar"
    tool_version: str
    started_at: datetime
    completed_at: datetime
    plain_size: int
    plain_sha256: str
    stored_size: int
    stored_sha256: str
    compression: Compression
    encryption: Encryption
    source: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)

    def key(self) -> str:
        return manifest_key(self.type, self.id)

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.completed_at).total_seconds()


def new_backup_id(backup_type: BackupType, now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{backup_type}-{secrets.token_hex(3)}"


def type_of_id(backup_id: str) -> BackupType | None:
    for backup_type in BACKUP_TYPES:
        if f"-{backup_type}-" in backup_id:
            return backup_type
    return None


def manifest_key(backup_type: BackupType, backup_id: str) -> str:
    return f"{backup_type}/{backup_id}/{MANIFEST_NAME}"


def write_manifest(storage: Storage, manifest: Manifest) -> None:
    storage.put_bytes(manifest.key(), manifest.model_dump_json(indent=2).encode())


def load_manifests(storage: Storage, backup_type: BackupType | None = None) -> list[Manifest]:
    """Every complete backup, oldest first by completion time (never by object name or date)."""
    manifests: list[Manifest] = []
    for kind in [backup_type] if backup_type else list(BACKUP_TYPES):
        for key in storage.list_keys(f"{kind}/"):
            if not key.endswith(f"/{MANIFEST_NAME}"):
                continue
            try:
                manifest = Manifest.model_validate(json.loads(storage.get_bytes(key)))
            except (ValueError, ValidationError) as exc:
                log.warning("ignoring an unreadable manifest", extra={"key": key, "error": str(exc)[:200]})
                continue
            except NotFoundError:
                continue  # deleted while listing
            if manifest.key() != key:
                log.warning("ignoring a manifest stored under the wrong key", extra={"key": key})
                continue
            manifests.append(manifest)
    manifests.sort(key=lambda m: (m.completed_at, m.id))
    return manifests


def newest(manifests: list[Manifest]) -> Manifest | None:
    """The newest backup not dated in the future (a wrong clock made those; see retention.py), else the
    newest of all. `manifests` is oldest first, as load_manifests returns them."""
    for manifest in reversed(manifests):
        if not in_future(manifest.completed_at):
            return manifest
    return manifests[-1] if manifests else None


def find_manifest(storage: Storage, ref: str, backup_type: BackupType | None = None) -> Manifest:
    """`latest` (of a type) or an exact backup id."""
    if ref == "latest":
        found = newest(load_manifests(storage, backup_type))
        if found is None:
            which = f"{backup_type} " if backup_type else ""
            raise NotFoundError(f"no complete {which}backup in {storage.describe()}")
        return found
    kind: BackupType | None = type_of_id(ref)
    if kind is None or (backup_type and kind != backup_type):
        raise NotFoundError(
            f"{ref!r} is not a {backup_type or 'backup'} id; `panel-backup list` shows the ids"
        )
    try:
        return Manifest.model_validate(json.loads(storage.get_bytes(manifest_key(kind, ref))))
    except NotFoundError:
        raise NotFoundError(
            f"no complete backup {ref} in {storage.describe()}; `panel-backup list` shows the ids"
        ) from None
