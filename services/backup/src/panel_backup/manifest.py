"""Manifests: the record of one complete backup, written last. Nothing else is trusted.

Layout in the target:  <type>/<id>/<artifact>   and   <type>/<id>/manifest.json
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from .errors import IntegrityError, NotFoundError
from .logs import get_logger
from .retention import in_future
from .settings import BACKUP_TYPES, BackupType
from .storage import Storage

log = get_logger("manifest")
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 3  # 2: sealed (seal.py); 3: zstd content checksum instead of a plaintext SHA-256


class Encryption(BaseModel):
    scheme: Literal["age"] = "age"
    mode: Literal["x25519", "passphrase"]
    recipient_fingerprints: list[str]
    wrapped_identity_key: str | None = None  # passphrase mode: the object holding the wrapped identity


class Compression(BaseModel):
    algorithm: Literal["zstd"] = "zstd"
    level: int
    content_checksum: bool = False  # the frame carries XXH64 of the plaintext, checked on decompression


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
    plain_sha256: str | None = None  # manifests before format 3; since, zstd's content checksum
    stored_size: int
    stored_sha256: str
    compression: Compression
    encryption: Encryption
    source: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    seal: str | None = None  # the SHA-256 of everything above, encrypted to the recipients (seal.py)
    _document: dict[str, Any] | None = PrivateAttr(default=None)  # as stored, when read from storage

    def key(self) -> str:
        return manifest_key(self.type, self.id)

    def document(self) -> dict[str, Any]:
        """The JSON document as stored (what the seal covers), or as it will be stored."""
        if self._document is not None:
            return self._document
        loaded: dict[str, Any] = json.loads(self.model_dump_json())
        return loaded

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        document = json.loads(data)
        manifest = cls.model_validate(document)
        manifest._document = document
        return manifest

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.completed_at).total_seconds()


def check_stored_size(storage: Storage, manifest: Manifest) -> int:
    """The data object exists with the size the manifest records (else IntegrityError); its size."""
    size = storage.size(manifest.artifact_key)
    if size is None:
        raise IntegrityError(f"{manifest.id}: the data object {manifest.artifact_key} is missing")
    if size != manifest.stored_size:
        raise IntegrityError(
            f"{manifest.id}: the data object is {size} bytes, the manifest says {manifest.stored_size}"
        )
    return size


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


@dataclass(frozen=True)
class Unreadable:
    """A manifest that is there but cannot be trusted as one: its backup is not listed, and
    `verify` reports it (it may be the newest backup)."""

    key: str
    reason: str

    @property
    def id(self) -> str:
        return self.key.split("/")[1] if self.key.count("/") >= 2 else self.key

    def describe(self) -> str:
        return f"{self.key}: unreadable manifest ({self.reason}); its backup is not listed or used"


def scan_manifests(
    storage: Storage, backup_type: BackupType | None = None
) -> tuple[list[Manifest], list[Unreadable]]:
    """Every complete backup, oldest first by completion time (never by object name or date), and the
    manifests that could not be read."""
    manifests: list[Manifest] = []
    unreadable: list[Unreadable] = []
    for kind in [backup_type] if backup_type else list(BACKUP_TYPES):
        for key in storage.list_keys(f"{kind}/"):
            if not key.endswith(f"/{MANIFEST_NAME}"):
                continue
            try:
                manifest = Manifest.from_bytes(storage.get_bytes(key))
            except ValidationError as exc:
                unreadable.append(Unreadable(key, f"{exc.error_count()} invalid fields"))
                continue
            except ValueError as exc:
                unreadable.append(Unreadable(key, f"not JSON: {str(exc)[:120]}"))
                continue
            except NotFoundError:
                continue  # deleted while listing
            if manifest.key() != key:
                unreadable.append(Unreadable(key, f"it describes {manifest.key()}"))
                continue
            manifests.append(manifest)
    manifests.sort(key=lambda m: (m.completed_at, m.id))
    for problem in unreadable:
        log.warning("unreadable manifest", extra={"key": problem.key, "reason": problem.reason})
    return manifests, unreadable


def load_manifests(storage: Storage, backup_type: BackupType | None = None) -> list[Manifest]:
    return scan_manifests(storage, backup_type)[0]


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
        return Manifest.from_bytes(storage.get_bytes(manifest_key(kind, ref)))
    except (ValidationError, ValueError) as exc:
        reason = f"{exc.error_count()} invalid fields" if isinstance(exc, ValidationError) else "not JSON"
        raise IntegrityError(
            f"{manifest_key(kind, ref)}: unreadable manifest ({reason}); the backup cannot be used"
        ) from None
    except NotFoundError:
        raise NotFoundError(
            f"no complete backup {ref} in {storage.describe()}; `panel-backup list` shows the ids"
        ) from None
