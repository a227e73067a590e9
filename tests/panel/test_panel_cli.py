"""The `panel` CLI: configuration errors, migrations, wait-for-schema, create-admin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from panel import schema
from panel.app import create_app
from panel.cli import main
from panel.db import make_engine
from panel.models import Base
from panel.settings import load_settings
from panel_helpers import body, make_settings
from support.bad_secret_files import CASES, program, refuses_bad_secret_file


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panel.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_invalid_configuration_exits_2_naming_every_problem(tmp_path: Path) -> None:
    result = run(
        "check-config",
        env={
            "PATH": "/usr/bin:/bin",
            "PANEL_ENV": "production",
            "DATABASE_URL": "mysql://root@db/panel",
            "REDIS_URL": "http://redis",
            "JWT_SECRET_FILE": str(tmp_path / "missing"),
        },
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "JWT_SECRET_FILE" in result.stderr and "missing" in result.stderr
    result = run(
        "check-config",
        env={
            "PATH": "/usr/bin:/bin",
            "PANEL_ENV": "production",
            "DATABASE_URL": "mysql://x",
            "REDIS_URL": "http://x",
        },
    )
    assert result.returncode == 2
    for name in ("DATABASE_URL", "REDIS_URL"):
        assert name in result.stderr
    production = run("check-config", env={"PATH": "/usr/bin:/bin", "PANEL_ENV": "production"})
    assert production.returncode == 2
    assert "SECRET_KEY" in production.stderr and "JWT_SECRET" in production.stderr


def test_check_config_accepts_secrets_from_files_and_hides_them(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40 + "\n")
    result = run(
        "check-config",
        env={
            "PATH": "/usr/bin:/bin",
            "PANEL_ENV": "production",
            "SECRET_KEY_FILE": str(secret),
            "JWT_SECRET_FILE": str(secret),
            "DATABASE_URL": "postgresql://panel:hunter2-password@db/panel",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s" * 40 not in result.stdout
    assert "configuration OK" in result.stdout


def test_migrate_then_wait_for_schema(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    waiting = runner.invoke(main, ["wait-for-schema", "--timeout", "0.2", "--interval", "0.1"])
    assert waiting.exit_code == 1 and "panel migrate" in waiting.output
    migrated = runner.invoke(main, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert schema.head_revision() in migrated.output
    assert runner.invoke(main, ["migrate"]).exit_code == 0  # idempotent
    assert runner.invoke(main, ["wait-for-schema", "--timeout", "5"]).exit_code == 0


def test_migrations_match_the_models_and_downgrade_cleanly(database_url: str) -> None:
    engine = make_engine(load_settings(environ={}, database_url=database_url))
    schema.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "models changed without a migration: run alembic revision --autogenerate"
    schema.upgrade(engine, "head")
    from alembic import command

    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert schema.current_revision(engine) is None
    schema.upgrade(engine)
    assert schema.is_at_head(engine)
    engine.dispose()


def test_create_admin_generates_reads_and_refuses_duplicates(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    created = runner.invoke(main, ["create-admin", "--username", "root"])
    assert created.exit_code == 0, created.output
    password = next(line.split(": ", 1)[1] for line in created.output.splitlines() if "password:" in line)

    duplicate = runner.invoke(main, ["create-admin", "--username", "root"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    quiet = runner.invoke(main, ["create-admin", "--username", "root", "--if-missing"])
    assert quiet.exit_code == 0 and quiet.output == ""

    password_file = tmp_path / "pw"
    password_file.write_text("from-a-file-password\n")
    from_file = runner.invoke(
        main, ["create-admin", "--username", "ops", "--password-file", str(password_file)]
    )
    assert from_file.exit_code == 0 and "from-a-file-password" not in from_file.output
    password_file.write_text("short\n")
    too_short = runner.invoke(
        main, ["create-admin", "--username", "ops2", "--password-file", str(password_file)]
    )
    assert too_short.exit_code == 2 and "12 characters" in too_short.output

    app = create_app(make_settings(cli_env["DATABASE_URL"], cli_env["REDIS_URL"]))
    client = app.test_client()
    for username, secret in (("root", password), ("ops", "from-a-file-password")):
        token = client.post("/api/v2/auth/token", json={"username": username, "password": secret})
        assert token.status_code == 200, body(token)
    audit = body(
        client.get(
            "/api/v2/audit?target_type=user",
            headers={"Authorization": f"Bearer {body(token)['access_token']}"},
        )
    )["items"]
    assert {entry["target_id"] for entry in audit if entry["action"] == "user.create"} >= {"1", "2"}
    app.extensions["panel"].engine.dispose()


@pytest.mark.parametrize("case", CASES)
def test_a_bad_secret_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    """Through the library: a non-UTF-8 SECRET_KEY_FILE was a traceback, a FIFO hung `check-config`."""
    stderr = refuses_bad_secret_file(
        case, [program("panel"), "check-config"], "SECRET_KEY", tmp_path, {"PANEL_ENV": "testing"}
    )
    assert stderr.startswith("error: invalid configuration:")
