"""PostgreSQL backups end to end against a real server, to file:// and to S3 over HTTP (moto and
versitygw)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from panel_backup.locking import advisory_key

from .conftest import AgeKey
from .helpers import counts, manifests_in, seed_database, sql, with_db
from .s3_servers import S3_KEY_ID, S3_SECRET, S3Server

pytestmark = pytest.mark.postgres


def _env(database_url: str, target: str, age_key: AgeKey, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BACKUP_TARGET": target,
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_PROGRESS_INTERVAL_SECONDS": "0",
        **extra,
    }


def _s3_env(s3: S3Server, bucket: str, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "BACKUP_S3_ENDPOINT_URL": endpoint or s3.url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "BACKUP_S3_MIN_PART_SIZE_MIB": "5",
        **extra,
    }


def test_round_trip_to_s3_restore_and_drill(
    postgres_server: Any,
    postgres_database: str,
    s3_server: S3Server,
    s3_bucket: str,
    age_key: AgeKey,
    run_cli: Any,
) -> None:
    # Enough incompressible data for a real multipart upload (two 5 MiB parts).
    seed_database(postgres_database, random_bytes_rows=250_000)
    expected = counts(postgres_database)
    env = _env(postgres_database, f"s3://{s3_bucket}/panel", age_key, **_s3_env(s3_server, s3_bucket))

    created = run_cli(["create", "database", "--json"], env)
    assert created.exit_code == 0, created.output
    summary = json.loads(created.stdout)
    assert summary["stored_size"] > 5 * 1024 * 1024

    listed = json.loads(run_cli(["list", "--json"], env).stdout)
    assert [item["id"] for item in listed] == [summary["id"]]

    verified = run_cli(["verify", "latest", "--full", "--json"], env)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)[0]["pg_restore_list_lines"] > 5

    target_name = postgres_server.create_database()
    restored = run_cli(["restore", summary["id"], "--component", "database", "--to", target_name], env)
    assert restored.exit_code == 0, restored.output
    assert counts(with_db(postgres_database, target_name)) == expected

    again = run_cli(["restore", "latest", "--component", "database", "--to", target_name], env)
    assert again.exit_code == 2
    assert "not empty" in again.stderr and "--force" in again.stderr

    drill = run_cli(["drill", "--json"], env)
    assert drill.exit_code == 0, drill.output
    report = json.loads(drill.stdout)
    assert report["ok"] and report["rows"] == sum(expected.values())
    leftovers = sql(
        postgres_server.url(), "SELECT datname FROM pg_database WHERE datname LIKE 'panel_drill_%'"
    )
    assert leftovers == []
    postgres_server.drop_database(target_name)


def test_manifest_records_row_counts_from_the_snapshot(
    postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    seed_database(postgres_database, rows=300)
    result = run_cli(["create", "database"], _env(postgres_database, f"file://{tmp_path}", age_key))
    assert result.exit_code == 0, result.output
    (manifest,) = manifests_in(tmp_path)
    assert manifest["source"]["row_counts"] == counts(postgres_database)
    assert manifest["source"]["snapshot"]
    assert manifest["encryption"]["mode"] == "x25519"
    assert postgres_database.split(":")[2].split("@")[0] not in json.dumps(manifest)  # no password


def test_stock_tools_restore_the_artifact(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    """The documented recipe: age -d -i key | zstd -d | pg_restore, with Debian's age and zstd."""
    seed_database(postgres_database, rows=500)
    store = tmp_path / "store"
    assert run_cli(["create", "database"], _env(postgres_database, f"file://{store}", age_key)).exit_code == 0
    (artifact,) = store.rglob("*.pgdump.zst.age")
    target = postgres_server.create_database()
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres_server.port),
        "PGUSER": postgres_server.user,
        "PGPASSWORD": postgres_server.password,
    }
    pg_restore = postgres_server.bin_dir / "pg_restore"
    subprocess.run(  # noqa: S602 - the documented stock-tool pipeline, verbatim
        f"age -d -i {age_key.path} {artifact} | zstd -d | {pg_restore} --no-owner -d {target}",
        shell=True,
        check=True,
        env=env,
    )
    assert counts(with_db(postgres_database, target)) == counts(postgres_database)
    postgres_server.drop_database(target)


def _killing_pg_dump(tmp_path: Path, real_bin: Path, after_bytes: int) -> Path:
    """A pg_dump that streams real dump bytes, then dies by SIGKILL mid-stream."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pg_dump"
    script.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "--version" ]; then exec {real_bin}/pg_dump --version; fi\n'
        f'{real_bin}/pg_dump "$@" | {{ head -c {after_bytes}; kill -9 $$; }}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "pg_restore").symlink_to(real_bin / "pg_restore")
    return bin_dir


def test_pg_dump_killed_mid_stream_leaves_nothing_on_s3(
    postgres_server: Any,
    postgres_database: str,
    s3_server: S3Server,
    s3_bucket: str,
    age_key: AgeKey,
    tmp_path: Path,
    run_cli: Any,
) -> None:
    seed_database(postgres_database, random_bytes_rows=300_000)
    bin_dir = _killing_pg_dump(tmp_path, postgres_server.bin_dir, after_bytes=8 * 1024 * 1024)
    env = _env(
        postgres_database,
        f"s3://{s3_bucket}/panel",
        age_key,
        BACKUP_PG_BIN_DIR=str(bin_dir),
        **_s3_env(s3_server, s3_bucket),
    )
    result = run_cli(["create", "database"], env)
    assert result.exit_code == 1
    assert "pg_dump was killed by signal 9" in result.stderr
    client = s3_server.client()
    assert client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert json.loads(run_cli(["list", "--json"], env).stdout) == []


def test_pg_dump_killed_mid_stream_leaves_nothing_in_a_directory(
    postgres_server: Any, postgres_database: str, age_key: AgeKey, tmp_path: Path, run_cli: Any
) -> None:
    seed_database(postgres_database, random_bytes_rows=100_000)
    bin_dir = _killing_pg_dump(tmp_path, postgres_server.bin_dir, after_bytes=1024 * 1024)
    store = tmp_path / "store"
    env = _env(postgres_database, f"file://{store}", age_key, BACKUP_PG_BIN_DIR=str(bin_dir))
    result = run_cli(["create", "database"], env)
    assert result.exit_code == 1
    assert list(store.iterdir()) == []  # no partial file, and no empty folder either


def test_old_pg_dump_is_refused_before_dumping(
    postgres_server: Any, postgres_database: str, age_key: AgeKey, tmp_path: Path, run_cli: Any
) -> None:
    older = postgres_server.major_version - 1
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_dump"
    fake.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {older}.9'\n")  # only --version is ever reached
    fake.chmod(0o755)
    store = tmp_path / "store"
    env = _env(postgres_database, f"file://{store}", age_key, BACKUP_PG_BIN_DIR=str(bin_dir))
    result = run_cli(["create", "database"], env)
    assert result.exit_code == 2
    assert f"PostgreSQL {older} but the server is PostgreSQL {postgres_server.major_version}" in result.stderr
    assert f"PG_MAJOR={postgres_server.major_version}" in result.stderr
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_overlapping_database_runs_are_refused(
    postgres_database: str, age_key: AgeKey, tmp_path: Path, run_cli: Any
) -> None:
    seed_database(postgres_database, rows=10)
    holder = psycopg2.connect(postgres_database)
    holder.autocommit = True
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (advisory_key("create database"),))
    try:
        result = run_cli(["create", "database"], _env(postgres_database, f"file://{tmp_path}", age_key))
    finally:
        holder.close()
    assert result.exit_code == 4
    assert "another `panel-backup create database` run holds the lock" in result.stderr
    assert manifests_in(tmp_path) == []
    assert (
        run_cli(["create", "database"], _env(postgres_database, f"file://{tmp_path}", age_key)).exit_code == 0
    )


def test_wrong_key_gives_a_clear_error(
    postgres_database: str, age_key: AgeKey, tmp_path: Path, run_cli: Any
) -> None:
    from panel_backup.crypto import generate_key_file

    seed_database(postgres_database, rows=10)
    env = _env(postgres_database, f"file://{tmp_path / 'store'}", age_key)
    assert run_cli(["create", "database"], env).exit_code == 0
    other = tmp_path / "other-key.txt"
    generate_key_file(other)
    result = run_cli(["verify", "latest", "--full"], {**env, "BACKUP_AGE_IDENTITY_FILE": str(other)})
    assert result.exit_code == 2
    assert "does not match any recipient" in result.stderr
    assert "Traceback" not in result.output


def test_a_failed_restore_leaves_no_database_behind(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    from panel_backup.crypto import generate_key_file

    seed_database(postgres_database, random_bytes_rows=20_000)
    store = tmp_path / "store"
    env = _env(postgres_database, f"file://{store}", age_key)
    assert run_cli(["create", "database"], env).exit_code == 0

    def exists(name: str) -> bool:
        return bool(sql(postgres_server.url(), "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))

    other = tmp_path / "other-key.txt"
    generate_key_file(other)
    wrong_key = run_cli(
        ["restore", "latest", "--component", "database", "--to", "restore_wrong_key"],
        {**env, "BACKUP_AGE_IDENTITY_FILE": str(other)},
    )
    assert wrong_key.exit_code == 2 and "does not match any recipient" in wrong_key.stderr
    assert not exists("restore_wrong_key")  # checked before anything was created

    (artifact,) = store.rglob("*.pgdump.zst.age")
    damaged = bytearray(artifact.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    artifact.write_bytes(bytes(damaged))
    broken = run_cli(["restore", "latest", "--component", "database", "--to", "restore_damaged"], env)
    assert broken.exit_code == 3, broken.output
    assert "removed the database restore_damaged this restore created" in broken.stderr
    assert not exists("restore_damaged")


def _altering_pg_dump(tmp_path: Path, real_bin: Path) -> Path:
    """A pg_dump whose archive holds one changed row (same length, so the archive stays valid): the
    counts in the snapshot still match after restore, the content does not."""
    bin_dir = tmp_path / "altering-bin"
    bin_dir.mkdir()
    script = bin_dir / "pg_dump"
    script.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "--version" ]; then exec {real_bin}/pg_dump --version; fi\n'
        f'{real_bin}/pg_dump "$@" | {sys.executable} -c "import sys; '
        "sys.stdout.buffer.write(sys.stdin.buffer.read().replace(b'srv-17\\t', b'srv-71\\t', 1))\"\n"
    )
    script.chmod(0o755)
    (bin_dir / "pg_restore").symlink_to(real_bin / "pg_restore")
    return bin_dir


def test_deep_drill_compares_content_fingerprints_taken_in_the_snapshot(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    seed_database(postgres_database, rows=300, random_bytes_rows=200)
    sql(postgres_database, "CREATE TABLE kinds (t timestamptz, f float8, i interval, b bytea, j jsonb)")
    sql(
        postgres_database, "INSERT INTO kinds VALUES (now(), 0.1, '1 day 2 hours', '\\x00ff', '{\"a\": [1]}')"
    )
    store = tmp_path / "store"
    env = _env(postgres_database, f"file://{store}", age_key)
    assert run_cli(["create", "database"], env).exit_code == 0
    no_prints = run_cli(["drill", "--deep"], env)
    assert no_prints.exit_code == 2 and "BACKUP_TABLE_FINGERPRINTS=true" in no_prints.stderr

    env["BACKUP_TABLE_FINGERPRINTS"] = "true"
    assert run_cli(["create", "database"], env).exit_code == 0
    deep = run_cli(["drill", "--deep", "--json"], env)
    assert deep.exit_code == 0, deep.output
    assert json.loads(deep.stdout)["fingerprints_compared"] == 4

    altered = {**env, "BACKUP_PG_BIN_DIR": str(_altering_pg_dump(tmp_path, postgres_server.bin_dir))}
    assert run_cli(["create", "database"], altered).exit_code == 0
    assert run_cli(["drill"], env).exit_code == 0  # the row counts still match
    caught = run_cli(["drill", "--deep"], env)
    assert caught.exit_code == 3
    assert "public.servers: content differs from the backup's snapshot" in caught.stderr
    assert (
        sql(postgres_server.url(), "SELECT datname FROM pg_database WHERE datname LIKE 'panel_drill_%%'")
        == []
    )
