"""Failure mail without S3, webhooks, metrics, settings validation, and secrets kept out of output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from support.servers import free_port

from .conftest import S3_KEY_ID, S3_SECRET, AgeKey, Mailbox, SmtpServer, WebhookReceiver


def _smtp_env(server: SmtpServer) -> dict[str, str]:
    return {
        "BACKUP_SMTP_HOST": "127.0.0.1",
        "BACKUP_SMTP_PORT": str(server.port),
        "BACKUP_SMTP_SECURITY": "none",
        "BACKUP_SMTP_USERNAME": server.username,
        "BACKUP_SMTP_PASSWORD": server.password,
        "BACKUP_EMAIL_FROM": "backups@panel.test",
        "BACKUP_EMAIL_TO": "ops@panel.test,oncall@panel.test",
    }


def test_failure_mail_is_sent_when_s3_is_unreachable(
    tmp_path: Path,
    age_key: AgeKey,
    smtp_server: SmtpServer,
    mailbox: Mailbox,
    webhook: WebhookReceiver,
    run_cli: Any,
) -> None:
    env = {
        "BACKUP_TARGET": "s3://backups/panel",
        "BACKUP_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "BACKUP_S3_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path),
        "BACKUP_WEBHOOK_URL": webhook.url,
        **_smtp_env(smtp_server),
    }
    result = run_cli(["create", "files"], env)
    assert result.exit_code == 1
    (message,) = mailbox.messages
    assert message["Subject"].startswith("[panel-backup] FAILED: create files at stage ")
    assert message["To"] == "ops@panel.test, oncall@panel.test"
    body = message.get_payload()
    assert "Last good backup: unknown (the storage could not be read" in body
    assert S3_SECRET not in body and smtp_server.password not in result.output
    assert mailbox.logins == [smtp_server.username]
    (payload,) = [json.loads(p) for p in webhook.payloads]
    assert payload["ok"] is False and payload["command"] == "create files" and payload["stage"]


def test_success_mail_is_optional_and_names_the_backup(
    tmp_path: Path, age_key: AgeKey, smtp_server: SmtpServer, mailbox: Mailbox, run_cli: Any
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    env = {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
        **_smtp_env(smtp_server),
    }
    assert run_cli(["create", "files"], env).exit_code == 0
    assert mailbox.messages == []
    created = run_cli(["create", "files", "--json"], {**env, "BACKUP_EMAIL_ON_SUCCESS": "true"})
    (message,) = mailbox.messages
    assert message["Subject"] == "[panel-backup] OK: create files"
    assert json.loads(created.stdout)["id"] in message.get_payload()


def test_metrics_textfile_keeps_each_type_and_the_last_success(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    textfile = tmp_path / "panel_backup.prom"
    env = {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
        "BACKUP_CONFIG_DIR": str(tmp_path / "missing"),
        "BACKUP_METRICS_TEXTFILE": str(textfile),
    }
    assert run_cli(["create", "files"], env).exit_code == 0
    assert run_cli(["create", "config"], env).exit_code == 2
    text = textfile.read_text()
    assert 'panel_backup_last_result{type="files"} 1.0' in text
    assert 'panel_backup_last_result{type="config"} 0.0' in text
    assert 'panel_backup_last_success_timestamp_seconds{type="files"}' in text
    assert 'panel_backup_last_success_timestamp_seconds{type="config"}' not in text
    assert 'panel_backup_last_stored_bytes{type="files"}' in text


def test_every_settings_problem_is_reported_on_its_own_line(run_cli: Any) -> None:
    env = {"BACKUP_TARGET": "ftp://host/x", "BACKUP_ZSTD_LEVEL": "99", "BACKUP_SMTP_SECURITY": "ssl"}
    result = run_cli(["list"], env)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert any(line.startswith("error: BACKUP_TARGET: must start with file://") for line in lines)
    assert any(line.startswith("error: BACKUP_ZSTD_LEVEL:") for line in lines)
    assert any(line.startswith("error: BACKUP_SMTP_SECURITY:") for line in lines)
    assert "Traceback" not in result.output


def test_missing_key_and_unreadable_secret_file_are_config_errors(tmp_path: Path, run_cli: Any) -> None:
    result = run_cli(
        ["create", "files"], {"BACKUP_TARGET": f"file://{tmp_path}", "BACKUP_FILES_PATHS": str(tmp_path)}
    )
    assert result.exit_code == 2 and "no encryption key" in result.stderr
    result = run_cli(
        ["list"], {"BACKUP_TARGET": f"file://{tmp_path}", "AWS_SECRET_ACCESS_KEY_FILE": "/nonexistent"}
    )
    assert (
        result.exit_code == 2 and "AWS_SECRET_ACCESS_KEY_FILE=/nonexistent: cannot read it" in result.stderr
    )


def test_database_password_never_appears_in_output(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    password = "Sup3r-Secret-Db-Pw"
    env = {
        "DATABASE_URL": f"postgresql://panel:{password}@127.0.0.1:{free_port()}/panel",
        "BACKUP_TARGET": f"file://{tmp_path}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
    }
    result = run_cli(["create", "database"], env)
    assert result.exit_code == 1
    assert "cannot connect to postgresql://panel@127.0.0.1" in result.stderr
    assert password not in result.output


def test_schedule_backs_up_sqlite_out_of_the_box(
    tmp_path: Path, age_key: AgeKey, run_cli: Any, monkeypatch: Any
) -> None:
    """What `make up` runs: a relative SQLite URL, a relative file:// target, only the identity file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    with sqlite3.connect(tmp_path / "var" / "panel.db") as conn:
        conn.execute("CREATE TABLE servers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO servers (name) VALUES (?)", [(f"s{i}",) for i in range(250)])
    env = {
        "DATABASE_URL": "sqlite:///var/panel.db",
        "BACKUP_TARGET": "file://./var/backups",
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
    }
    result = run_cli(["schedule", "--run-now", "--once"], env)
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(run_cli(["list", "--json"], env).stdout)
    assert listed["source"]["engine"] == "sqlite"
    restored = tmp_path / "restored.db"
    assert (
        run_cli(["restore", "latest", "--component", "database", "--to", str(restored)], env).exit_code == 0
    )
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM servers").fetchone()[0] == 250

    bad = run_cli(["schedule"], {**env, "BACKUP_SCHEDULE_DATABASE": "every night"})
    assert (
        bad.exit_code == 2 and "BACKUP_SCHEDULE_DATABASE='every night': not a cron expression" in bad.stderr
    )
