"""`prune`: apply the retention policy to complete manifests; delete the manifest first, then the data."""

from __future__ import annotations

from .logs import get_logger
from .manifest import MANIFEST_NAME, load_manifests
from .retention import Candidate, Decision, plan
from .settings import BackupType, Settings
from .storage import Storage

log = get_logger("prune")


def prune_plan(settings: Settings, storage: Storage, backup_type: BackupType) -> list[Decision]:
    manifests = load_manifests(storage, backup_type)
    return plan([Candidate(m.id, m.completed_at) for m in manifests], settings.policy_for(backup_type))


def apply_plan(storage: Storage, backup_type: BackupType, decisions: list[Decision]) -> list[str]:
    deleted = []
    for decision in decisions:
        if decision.keep:
            continue
        prefix = f"{backup_type}/{decision.id}/"
        # The manifest goes first: a half-deleted backup then no longer counts as a backup.
        storage.delete(prefix + MANIFEST_NAME)
        for key in list(storage.list_keys(prefix)):
            storage.delete(key)
        deleted.append(decision.id)
        log.info("backup deleted", extra={"id": decision.id, "type": backup_type})
    return deleted
