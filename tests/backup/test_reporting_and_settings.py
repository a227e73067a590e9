"""Failure mail without S3, webhooks, metrics, settings validation, and secrets kept out of output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support.bad_secret_files import CASES, program, refuses_bad_secret_file
from support.servers import free_port

from .conftest import AgeKey, Mailbox, SmtpServer, WebhookReceiver
from .s3_servers import S3_KEY_ID, S3_SECRET


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


def test_s3_sizing_settings_out_of_range_are_config_errors(run_cli: Any) -> None:
    env = {"BACKUP_S3_MAX_PARTS": "0", "BACKUP_S3_MIN_PART_SIZE_MIB": "1", "BACKUP_S3_MAX_ATTEMPTS": "0"}
    result = run_cli(["list"], {"BACKUP_TARGET": "s3://bucket/prefix", **env})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("error: BACKUP_S3_MAX_PARTS: must be between 1 and 10000") for line in lines)
    assert any(line.startswith("error: BACKUP_S3_MIN_PART_SIZE_MIB: must be between 5") for line in lines)
    assert any(line.startswith("error: BACKUP_S3_MAX_ATTEMPTS: must be between 1 and 20") for line in lines)
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
        result.exit_code == 2
        and (
            "AWS_SECRET_ACCESS_KEY_FILE: cannot read /nonexistent (No such file or directory); "
            "mount the file there or unset AWS_SECRET_ACCESS_KEY_FILE"
        )
        in result.stderr
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
    assert "cannot connect to postgresql://127.0.0.1:" in result.stderr
    assert "/panel as panel:" in result.stderr
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
    assert bad.exit_code == 2 and "BACKUP_SCHEDULE_DATABASE: 'every night' has 2 fields; use 5" in bad.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_failure_mail_over_starttls_and_implicit_tls(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    from .conftest import _Handler

    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    for security in ("starttls", "tls"):
        box = Mailbox()
        port = free_port()
        if security == "starttls":
            controller = Controller(
                _Handler(box),
                hostname="127.0.0.1",
                port=port,
                tls_context=server_context,
                require_starttls=True,
            )
        else:
            controller = Controller(
                _Handler(box), hostname="127.0.0.1", port=port, ssl_context=server_context
            )
        controller.start()
        try:
            env = {
                "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
                "BACKUP_AGE_RECIPIENTS": age_key.public,
                "BACKUP_FILES_PATHS": str(tmp_path / "does-not-exist"),
                "BACKUP_SMTP_HOST": "127.0.0.1",
                "BACKUP_SMTP_PORT": str(port),
                "BACKUP_SMTP_SECURITY": security,
                "BACKUP_SMTP_CA_FILE": str(cert),
                "BACKUP_EMAIL_FROM": "backups@panel.test",
                "BACKUP_EMAIL_TO": "ops@panel.test",
            }
            result = run_cli(["create", "files"], env)
        finally:
            controller.stop()
        assert result.exit_code == 2
        (message,) = box.messages
        assert "FAILED: create files at stage preflight" in message["Subject"]
        assert "does-not-exist does not exist" in message.get_payload()


def test_deep_drill_of_a_sqlite_backup(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    db = tmp_path / "panel.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE servers (id INTEGER PRIMARY KEY, name TEXT, weight REAL, blob BLOB)")
        conn.executemany(
            "INSERT INTO servers (name, weight, blob) VALUES (?, ?, ?)",
            [(f"s{i}", i / 3, bytes([i % 256]) * 3) for i in range(500)],
        )
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_TABLE_FINGERPRINTS": "true",
    }
    assert run_cli(["create", "database"], env).exit_code == 0
    drill = run_cli(["drill", "--deep", "--json"], env)
    assert drill.exit_code == 0, drill.output
    report = json.loads(drill.stdout)
    assert report["fingerprints_compared"] == 1 and report["rows"] == 500


@pytest.mark.parametrize("case", CASES)
def test_a_bad_secret_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    """Through the library: a non-UTF-8 file was a traceback, a FIFO hung the start."""
    stderr = refuses_bad_secret_file(
        case,
        [program("panel-backup"), "list"],
        "AWS_SECRET_ACCESS_KEY",
        tmp_path,
        {"BACKUP_TARGET": f"file://{tmp_path / 'store'}", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
    )
    assert "error: AWS_SECRET_ACCESS_KEY" in stderr
