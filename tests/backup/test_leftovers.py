"""What a run killed with SIGKILL leaves (nothing can clean up after kill -9): hidden partial files and
unfinished multipart uploads. `prune` finds and removes them once they are older than the orphan age."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import AgeKey
from .helpers import BackgroundRun, processes_named, seed_database, stalling_pg_tool
from .s3_servers import FaultProxy, S3Server

MIN_AGE_HOURS = 1 / 3600  # one second


def _older_than_min_age(started: datetime) -> None:
    """Wait (on the condition, not a fixed time) until a leftover is past BACKUP_ORPHAN_MIN_AGE_HOURS."""
    while (datetime.now(UTC) - started).total_seconds() < 2:
        time.sleep(0.1)


def test_prune_aborts_unfinished_multipart_uploads_of_killed_runs(
    tmp_path: Path,
    fault_proxy: FaultProxy,
    s3_server: S3Server,
    s3_bucket: str,
    age_key: AgeKey,
    run_cli: Any,
) -> None:
    tree = tmp_path / "uploads"
    tree.mkdir()
    (tree / "random.bin").write_bytes(os.urandom(12 << 20))
    env = {
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tree),
        "BACKUP_S3_MIN_PART_SIZE_MIB": "5",
        "BACKUP_ORPHAN_MIN_AGE_HOURS": str(MIN_AGE_HOURS),
        **s3_server.env(s3_bucket, endpoint=fault_proxy.url),
    }
    fault_proxy.hold_upload_parts()
    run = BackgroundRun(["create", "files"], env)
    run.wait_for(fault_proxy.held.is_set, "an upload part in flight")
    run.signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    fault_proxy.release()
    (upload,) = s3_server.multipart_uploads(s3_bucket)
    _older_than_min_age(upload["Initiated"])

    dry = json.loads(run_cli(["prune", "--type", "files", "--dry-run", "--json"], env).stdout)
    assert [(row["action"], row["reason"].split(":")[0]) for row in dry] == [
        ("would delete", "unfinished multipart upload of a stopped run")
    ]
    assert len(s3_server.multipart_uploads(s3_bucket)) == 1
    pruned = run_cli(["prune", "--type", "files"], env)
    assert pruned.exit_code == 0, pruned.output
    assert s3_server.multipart_uploads(s3_bucket) == []


@pytest.mark.postgres
def test_prune_removes_partial_files_of_killed_runs(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    seed_database(postgres_database, random_bytes_rows=50_000)
    token = f"stalled-pg-dump-{uuid.uuid4().hex[:8]}"
    stalling_pg_tool(tmp_path / "bin", postgres_server.bin_dir, "pg_dump", token, after_bytes=1 << 20)
    store = tmp_path / "store"
    env = {
        "DATABASE_URL": postgres_database,
        "BACKUP_TARGET": f"file://{store}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_PG_BIN_DIR": str(tmp_path / "bin"),
        "BACKUP_ORPHAN_MIN_AGE_HOURS": str(MIN_AGE_HOURS),
    }
    run = BackgroundRun(["create", "database"], env)
    run.wait_for(lambda: any(".partial-" in p.name for p in store.rglob("*")), "a partial file")
    run.signal(signal.SIGKILL)
    run.finish()
    for pid in processes_named(token):  # the killed run's pg_dump, orphaned
        os.kill(pid, signal.SIGKILL)
    (partial,) = [p for p in store.rglob("*") if ".partial-" in p.name]
    _older_than_min_age(datetime.fromtimestamp(partial.stat().st_mtime, UTC))

    dry = json.loads(run_cli(["prune", "--type", "database", "--dry-run", "--json"], env).stdout)
    assert [row["reason"].split(":")[0] for row in dry] == ["partial file of a stopped run"]
    assert partial.exists()
    assert run_cli(["prune", "--type", "database"], env).exit_code == 0
    assert not partial.exists()
    assert not partial.parent.exists()  # nor the backup's now empty folder
