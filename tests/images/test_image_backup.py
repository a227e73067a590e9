"""The backup image: `create database` from the session PostgreSQL to a mounted folder, `verify --full`,
and the PostgreSQL client the Dockerfile documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg2
import pyrage
import pytest
import yaml
from image_podman import REPO_ROOT, give_to_image_user, run

pytestmark = [pytest.mark.postgres]


def chart_postgres_major() -> int:
    """The major of the PostgreSQL image the chart bundles by default (`postgresql.image.tag`)."""
    tag = yaml.safe_load((REPO_ROOT / "charts/panel/values.yaml").read_text())["postgresql"]["image"]["tag"]
    match = re.match(r"(\d+)", str(tag))
    assert match, f"charts/panel/values.yaml postgresql.image.tag {tag!r} does not start with a major"
    return int(match.group(1))


def documented_pg_major() -> int:
    match = re.search(r"^ARG PG_MAJOR=(\d+)$", (REPO_ROOT / "docker/backup.Dockerfile").read_text(), re.M)
    assert match, "docker/backup.Dockerfile no longer documents its default PG_MAJOR"
    return int(match.group(1))


def test_default_client_dumps_the_charts_bundled_postgresql() -> None:
    # pg_dump refuses a server newer than itself: with the chart's defaults (PostgreSQL 17 bundled) a
    # PostgreSQL 15 client made every scheduled database backup fail (found on the real-node tier).
    assert documented_pg_major() >= chart_postgres_major()


@pytest.fixture
def backup_env(
    built_images: None, postgres_database: str, tmp_path: Path
) -> tuple[dict[str, str], list[str]]:
    with psycopg2.connect(postgres_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE inventory (id serial PRIMARY KEY, name text NOT NULL)")
        cur.execute("INSERT INTO inventory (name) SELECT 'host-' || n FROM generate_series(1, 500) AS n")
    conn.close()
    backups = tmp_path / "backups"
    backups.mkdir()
    give_to_image_user(backups, 0o700)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    identity = pyrage.x25519.Identity.generate()
    (keys / "identity.txt").write_text(f"{identity}\n")
    give_to_image_user(keys / "identity.txt", 0o600)
    env = {
        "DATABASE_URL": postgres_database,
        "BACKUP_TARGET": "file:///backups",
        "BACKUP_AGE_IDENTITY_FILE": "/keys/identity.txt",
    }
    return env, [f"{backups}:/backups", f"{keys}:/keys:ro"]


def test_create_database_then_verify_full(backup_env: tuple[dict[str, str], list[str]]) -> None:
    env, volumes = backup_env
    created = run("backup", "create", "database", "--json", env=env, volumes=volumes)
    assert created.returncode == 0, created.output
    verified = run("backup", "verify", "--full", "--json", env=env, volumes=volumes)
    assert verified.returncode == 0, verified.output
    listed = run("backup", "list", "--json", env=env, volumes=volumes)
    assert listed.returncode == 0, listed.output
    assert "database" in json.dumps(json.loads(listed.stdout))
    assert env["DATABASE_URL"].split("@")[0] not in created.output + verified.output


def test_pg_dump_is_the_documented_major(built_images: None, postgres_server) -> None:
    major = documented_pg_major()
    result = run(
        "backup",
        "-c",
        'echo "$BACKUP_PG_BIN_DIR"; "$BACKUP_PG_BIN_DIR/pg_dump" --version',
        entrypoint="/bin/sh",
    )
    assert result.returncode == 0, result.output
    bin_dir, version = result.stdout.splitlines()[:2]
    assert bin_dir == f"/usr/lib/postgresql/{major}/bin"
    assert re.match(rf"pg_dump \(PostgreSQL\) {major}\.\d+", version), version
    # pg_dump refuses servers newer than itself: the default image must cover the tested server.
    assert major >= postgres_server.major_version


def test_a_missing_target_is_a_configuration_error(built_images: None) -> None:
    result = run("backup", "create", "database", env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})
    assert result.returncode == 2, result.output
    assert "BACKUP_TARGET" in result.output and "Traceback" not in result.output
