"""`prune`: apply the retention policy to complete manifests; delete the manifest first, then the data."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from .logs import get_logger
from .manifest import MANIFEST_NAME, load_manifests
from .retention import Candidate, Decision, dated_in_future, plan
from .settings import BackupType, Settings
from .storage import Leftover, Storage

log = get_logger("prune")


def prune_plan(
    settings: Settings, storage: Storage, backup_type: BackupType, *, protect: Collection[str] = ()
) -> tuple[list[Decision], list[str]]:
    """The decisions, and warnings about backups dated in the future."""
    candidates = [Candidate(m.id, m.completed_at) for m in load_manifests(storage, backup_type)]
    decisions = plan(candidates, settings.policy_for(backup_type), protect=protect)
    warnings = dated_in_future(candidates)
    for warning in warnings:
        log.warning("clock", extra={"warning": warning})
    return decisions, warnings


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


def find_orphans(
    storage: Storage, backup_type: BackupType, complete_ids: set[str], min_age_hours: float
) -> list[tuple[str, datetime, list[str]]]:
    """Data left by runs that died before their manifest: (id, started, keys), older than min_age_hours.

    Only the start time inside the id is used, and only to leave runs that may still be going alone.
    """
    groups: dict[str, list[str]] = {}
    for key in storage.list_keys(f"{backup_type}/"):
        parts = key.split("/")
        if len(parts) >= 3:
            groups.setdefault(parts[1], []).append(key)
    cutoff = datetime.now(UTC) - timedelta(hours=min_age_hours)
    orphans = []
    for backup_id, keys in sorted(groups.items()):
        if backup_id in complete_ids or any(k.endswith("/" + MANIFEST_NAME) for k in keys):
            continue
        try:
            started = datetime.strptime(backup_id.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue  # not ours: leave it
        if started < cutoff:
            orphans.append((backup_id, started, keys))
    return orphans


def delete_orphans(storage: Storage, orphans: list[tuple[str, datetime, list[str]]]) -> None:
    for backup_id, _started, keys in orphans:
        for key in keys:
            storage.delete(key)
        log.info("incomplete backup removed", extra={"id": backup_id})


def find_leftovers(storage: Storage, backup_type: BackupType, min_age_hours: float) -> list[Leftover]:
    """Partial files and unfinished multipart uploads of killed runs, older than min_age_hours by their
    own time (a run still writing keeps its partial file fresh; an upload's start is the server's)."""
    cutoff = datetime.now(UTC) - timedelta(hours=min_age_hours)
    return sorted(
        (item for item in storage.list_leftovers(f"{backup_type}/") if item.started < cutoff),
        key=lambda item: (item.started, item.key),
    )


def remove_leftovers(storage: Storage, leftovers: list[Leftover]) -> None:
    for leftover in leftovers:
        storage.remove_leftover(leftover)
        log.info("leftover removed", extra={"kind": leftover.kind, "key": leftover.key})
