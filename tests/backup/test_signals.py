"""SIGTERM mid-run, sent to a real `panel-backup` process (Kubernetes sends it at a Job's deadline and on
eviction): every command stops its children, aborts its upload, releases its lock, drops its scratch
database, exits 143 with one line, and the next run works."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import AgeKey
from .helpers import BackgroundRun, processes_named, seed_database, sql, stalling_pg_tool
from .s3_servers import FaultProxy, S3Server

pytestmark = pytest.mark.timeout(600)


def _base_env(age_key: AgeKey, **extra: str) -> dict[str, str]:
    return {
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_PROGRESS_INTERVAL_SECONDS": "0",
        "BACKUP_S3_MIN_PART_SIZE_MIB": "5",
        **extra,
    }


def _stop(run: BackgroundRun, release: Any = None) -> None:
    """SIGTERM, wait until the process says it is stopping, let held requests through, expect 143."""
    run.signal(signal.SIGTERM)
    run.wait_for(lambda: run.logged("stopping: cleaning up"), "the stop to begin")
    if release:
        release()
    code = run.finish()
    lines = run.error_lines()
    assert code == 143, (code, run.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: stopped by SIGTERM"), lines
    assert not any("Traceback" in line for line in run.stderr)


def _files_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _huge_sparse_tree(root: Path) -> Path:
    """50 GB of holes: minutes of real reading, compressing and encrypting, and no disk space."""
    root.mkdir()
    with open(root / "huge.bin", "wb") as handle:
        handle.truncate(50 * 1000**3)
    return root


def _stalling_dump_to_folder(
    postgres_server: Any, postgres_database: str, tmp_path: Path, store: Path, age_key: AgeKey
) -> tuple[str, dict[str, str]]:
    """A database backup to `store` whose pg_dump stalls after 1 MiB: (its process name, the env)."""
    seed_database(postgres_database, random_bytes_rows=50_000)
    token = f"stalled-pg-dump-{uuid.uuid4().hex[:8]}"
    stalling_pg_tool(tmp_path / "bin", postgres_server.bin_dir, "pg_dump", token, after_bytes=1 << 20)
    env = _base_env(
        age_key,
        DATABASE_URL=postgres_database,
        BACKUP_TARGET=f"file://{store}",
        BACKUP_PG_BIN_DIR=str(tmp_path / "bin"),
    )
    return token, env


@pytest.mark.postgres
def test_create_database_to_a_folder(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey
) -> None:
    store = tmp_path / "store"
    token, env = _stalling_dump_to_folder(postgres_server, postgres_database, tmp_path, store, age_key)
    run = BackgroundRun(["create", "database"], env)
    run.wait_for(lambda: bool(processes_named(token)), "a stalled pg_dump")
    run.wait_for(lambda: any(".partial-" in name for name in _files_in(store)), "a partial file")
    _stop(run)
    assert processes_named(token) == []
    assert [name for name in _files_in(store) if not name.startswith("database")] == []
    assert not any(p.is_file() for p in store.rglob("*"))
    env.pop("BACKUP_PG_BIN_DIR")
    assert BackgroundRun(["create", "database"], env).finish() == 0  # the advisory lock went with the run


@pytest.mark.postgres
def test_create_database_to_s3_aborts_the_multipart_upload(
    postgres_database: str, fault_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str, age_key: AgeKey
) -> None:
    seed_database(postgres_database, random_bytes_rows=300_000)
    env = _base_env(
        age_key, DATABASE_URL=postgres_database, **s3_server.env(s3_bucket, endpoint=fault_proxy.url)
    )
    fault_proxy.hold_upload_parts()
    run = BackgroundRun(["create", "database"], env)
    run.wait_for(fault_proxy.held.is_set, "an upload part in flight")
    assert len(s3_server.multipart_uploads(s3_bucket)) == 1
    _stop(run, release=fault_proxy.release)
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert s3_server.keys(s3_bucket) == []
    assert BackgroundRun(["create", "database"], env).finish() == 0


def test_create_files_to_s3_releases_the_lock(
    tmp_path: Path, fault_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str, age_key: AgeKey
) -> None:
    tree = tmp_path / "uploads"
    tree.mkdir()
    (tree / "random.bin").write_bytes(os.urandom(12 << 20))
    env = _base_env(
        age_key, BACKUP_FILES_PATHS=str(tree), **s3_server.env(s3_bucket, endpoint=fault_proxy.url)
    )
    fault_proxy.hold_upload_parts()
    run = BackgroundRun(["create", "files"], env)
    run.wait_for(fault_proxy.held.is_set, "an upload part in flight")
    assert "panel/locks/files.json" in s3_server.keys(s3_bucket)
    _stop(run, release=fault_proxy.release)
    assert s3_server.keys(s3_bucket) == []  # no lock, no data
    assert s3_server.multipart_uploads(s3_bucket) == []
    assert BackgroundRun(["create", "files"], env).finish() == 0  # not 4: the lock is gone


@pytest.mark.parametrize("backup_type", ["files", "config"])
def test_create_files_and_config_to_a_folder(backup_type: str, tmp_path: Path, age_key: AgeKey) -> None:
    tree = _huge_sparse_tree(tmp_path / "data")
    store = tmp_path / "store"
    source = {"BACKUP_FILES_PATHS": str(tree)} if backup_type == "files" else {"BACKUP_CONFIG_DIR": str(tree)}
    env = _base_env(age_key, BACKUP_TARGET=f"file://{store}", **source)
    run = BackgroundRun(["create", backup_type], env)
    run.wait_for(lambda: any(".partial-" in name for name in _files_in(store)), "a partial file")
    assert (store / "locks" / f"{backup_type}.json").exists()
    _stop(run)
    assert not any(p.is_file() for p in store.rglob("*"))  # no lock, no partial file


def _database_backup(postgres_database: str, store: Path, age_key: AgeKey, rows: int) -> dict[str, str]:
    seed_database(postgres_database, random_bytes_rows=rows)
    env = _base_env(age_key, DATABASE_URL=postgres_database, BACKUP_TARGET=f"file://{store}")
    assert BackgroundRun(["create", "database"], env).finish() == 0
    return env


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["restore", "drill", "verify"])
def test_commands_feeding_a_stalled_pg_restore_stop_it_and_drop_what_they_created(
    command: str, postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey
) -> None:
    env = _database_backup(postgres_database, tmp_path / "store", age_key, rows=100_000)
    token = f"stalled-pg-restore-{uuid.uuid4().hex[:8]}"
    stalling_pg_tool(tmp_path / "bin", postgres_server.bin_dir, "pg_restore", token, after_bytes=1 << 20)
    target = f"restored_{uuid.uuid4().hex[:8]}"
    args = {
        "restore": ["restore", "latest", "--component", "database", "--to", target],
        "drill": ["drill"],  # restores into a scratch database panel_drill_<random>
        "verify": ["verify", "latest", "--full"],  # feeds `pg_restore --list`
    }[command]
    run = BackgroundRun(args, {**env, "BACKUP_PG_BIN_DIR": str(tmp_path / "bin")})
    run.wait_for(lambda: bool(processes_named(token)), "a stalled pg_restore")
    _stop(run)
    assert processes_named(token) == []
    left = sql(
        postgres_server.url(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'panel_drill_%%' OR datname = %s",
        (target,),
    )
    assert left == []
    if command == "restore":
        assert "removed the database" in run.error_lines()[0]


def test_restore_files_from_s3_removes_the_partial_folder(
    tmp_path: Path, fault_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str, age_key: AgeKey
) -> None:
    tree = tmp_path / "uploads"
    tree.mkdir()
    for index in range(4):
        (tree / f"random-{index}.bin").write_bytes(os.urandom(2 << 20))
    env = _base_env(
        age_key, BACKUP_FILES_PATHS=str(tree), **s3_server.env(s3_bucket, endpoint=fault_proxy.url)
    )
    assert BackgroundRun(["create", "files"], env).finish() == 0
    fault_proxy.hold_downloads()
    target = tmp_path / "restored"
    run = BackgroundRun(["restore", "latest", "--component", "files", "--to", str(target)], env)
    run.wait_for(fault_proxy.held.is_set, "a download in flight")
    run.wait_for(lambda: (target / "uploads" / "random-0.bin").exists(), "the first restored file")
    _stop(run, release=fault_proxy.release)
    assert "removed the partly restored folder" in run.error_lines()[0]
    assert not target.exists()


@pytest.mark.postgres
def test_schedule_stops_the_running_job_and_exits(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey
) -> None:
    store = tmp_path / "store"
    token, env = _stalling_dump_to_folder(postgres_server, postgres_database, tmp_path, store, age_key)
    run = BackgroundRun(["schedule", "--run-now"], env)
    run.wait_for(lambda: bool(processes_named(token)), "a stalled pg_dump")
    _stop(run)
    assert processes_named(token) == []
    assert not any(p.is_file() for p in store.rglob("*"))

    idle = BackgroundRun(["schedule"], {**env, "BACKUP_SCHEDULE_DRILL": "off"})
    idle.wait_for(lambda: idle.logged('"scheduled"'), "the schedule")
    idle.signal(signal.SIGTERM)
    assert idle.finish() == 0


@pytest.mark.postgres
def test_a_frozen_database_does_not_hold_up_the_stop(tmp_path: Path, age_key: AgeKey) -> None:
    """PostgreSQL stops answering (SIGSTOP) mid-backup: SIGTERM must still end the run (a ROLLBACK or a
    cancel request waiting for the frozen server held it forever). Its own server: it is frozen."""
    from support.servers import PostgresServer

    server = PostgresServer().start()
    frozen: list[int] = []
    try:
        database = server.url(server.create_database())
        store = tmp_path / "store"
        token, env = _stalling_dump_to_folder(server, database, tmp_path, store, age_key)
        run = BackgroundRun(["create", "database"], env)
        run.wait_for(lambda: any(".partial-" in name for name in _files_in(store)), "a partial file")
        assert server.process is not None
        children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True)
        frozen = [server.process.pid, *map(int, children.stdout.split())]  # this cluster's processes only
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        _stop(run)
        assert processes_named(token) == []
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        server.stop()
