"""Every setting is validated when the settings load: a bad value exits 2 with one line naming the
variable and the fix, never a traceback, never the value of a secret; and nothing is written anywhere."""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panel_backup.errors import ConfigError
from panel_backup.settings import RANGES, Settings, load_settings
from support.servers import free_port

from .conftest import AgeKey


def _error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("{")]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BACKUP_LOG_LEVEL": "LOUD"}, ["error: BACKUP_LOG_LEVEL: must be one of DEBUG, INFO, WARNING"]),
        ({"BACKUP_KEEP_LAST": "-1"}, ["error: BACKUP_KEEP_LAST: must be between 0 and"]),
        ({"BACKUP_S3_ENDPOINT_URL": "localhost:9000"}, ["error: BACKUP_S3_ENDPOINT_URL: must be an http://"]),
        (
            {"BACKUP_S3_ENDPOINT_URL": "http://minio:99999"},
            ["error: BACKUP_S3_ENDPOINT_URL: must be an http://"],
        ),
        (
            {"BACKUP_SCHEDULE_DATABASE": "* * * * * *"},
            ["error: BACKUP_SCHEDULE_DATABASE: '* * * * * *' has 6 fields"],
        ),
        (
            {"BACKUP_SCHEDULE_FILES": "0 25 * * *"},
            ["error: BACKUP_SCHEDULE_FILES: '0 25 * * *' is not a cron"],
        ),
        (
            {
                "BACKUP_LOCK_TTL_SECONDS": "-5",
                "BACKUP_ZSTD_THREADS": "-2",
                "BACKUP_PROGRESS_INTERVAL_SECONDS": "-1",
            },
            [
                "error: BACKUP_ZSTD_THREADS: must be between 0 and 64",
                "error: BACKUP_LOCK_TTL_SECONDS: must be between 60 and",
                "error: BACKUP_PROGRESS_INTERVAL_SECONDS: must be between 0 and",
            ],
        ),
        ({"BACKUP_ORPHAN_MIN_AGE_HOURS": "0"}, ["error: BACKUP_ORPHAN_MIN_AGE_HOURS: must be above 0"]),
        ({"BACKUP_SMTP_HOST": "mail.example.com"}, ["error: BACKUP_EMAIL_FROM, BACKUP_EMAIL_TO: not set"]),
        ({"BACKUP_EMAIL_TO": "ops@example.com,oncall"}, ["error: BACKUP_EMAIL_TO: 'oncall' is not an email"]),
        ({"AWS_ACCESS_KEY_ID": "only-the-id"}, ["error: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: only one"]),
        ({"BACKUP_AGE_RECIPIENTS": "age1notakey"}, ["error: BACKUP_AGE_RECIPIENTS: 'age1notakey' is not"]),
        (
            {"BACKUP_S3_STORAGE_CLASS": "standard ia"},
            ["error: BACKUP_S3_STORAGE_CLASS: must be a storage class"],
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    env: dict[str, str], expected: list[str], tmp_path: Path, run_cli: Any
) -> None:
    result = run_cli(["list"], {"BACKUP_TARGET": f"file://{tmp_path}", **env})
    assert result.exit_code == 2, result.output
    lines = _error_lines(result)
    assert len(lines) == len(expected), lines
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)
    assert "Traceback" not in result.output


def test_an_empty_file_target_is_refused_instead_of_writing_into_the_working_folder(
    tmp_path: Path, age_key: AgeKey, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    env = {"BACKUP_TARGET": "file://", "BACKUP_AGE_RECIPIENTS": age_key.public, "BACKUP_FILES_PATHS": "data"}
    result = run_cli(["create", "files"], env)
    assert result.exit_code == 2
    assert _error_lines(result) == [
        "error: BACKUP_TARGET: names no folder; use file:///absolute/path or file://./relative/path "
        "(got 'file://')"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_bad_port_in_database_url_is_a_config_error_without_the_password(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    env = {
        "DATABASE_URL": "postgresql://panel:Pw-In-The-Url@db.example:99999/panel",
        "BACKUP_TARGET": f"file://{tmp_path}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
    }
    result = run_cli(["create", "database"], env)
    assert result.exit_code == 2
    (line,) = _error_lines(result)
    assert line.startswith("error: DATABASE_URL: the host or port cannot be read")
    assert "Pw-In-The-Url" not in result.output


def test_list_with_s3_down_is_one_line_without_a_traceback(run_cli: Any) -> None:
    env = {
        "BACKUP_TARGET": "s3://backups/panel",
        "BACKUP_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "BACKUP_S3_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret-value-for-the-test",
    }
    result = run_cli(["list"], env)
    assert result.exit_code == 1
    (line,) = _error_lines(result)
    assert line.startswith("error: EndpointConnectionError: Could not connect to the endpoint URL")
    assert "Traceback" not in result.output and "secret-value-for-the-test" not in result.output


# Properties: over arbitrary values of every variable, loading either succeeds or fails with lines that
# each name a variable; no other exception ever escapes, and a secret's value never shows.

VARIABLES = sorted(
    {
        str(field.validation_alias.choices[0])
        for field in Settings.model_fields.values()
        if field.validation_alias is not None
    }
)
SECRET_VALUE = "Zx9-Secret-Pw"
SECRETS = (
    "DATABASE_URL",
    "AWS_SECRET_ACCESS_KEY",
    "BACKUP_AGE_PASSPHRASE",
    "BACKUP_SMTP_PASSWORD",
    "BACKUP_WEBHOOK_URL",
)
values = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.digits + "-.e", max_size=12),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(
        ["", " ", "off", "true", "0", "-1", "1e309", "nan", "inf", "\x00", "ü" * 300, "[]", "{}"]
    ),
    st.sampled_from(
        [
            f"postgresql://u:{SECRET_VALUE}@h:5432/db",
            f"postgresql://u:{SECRET_VALUE}@h:70000/db",
            f"postgresql://u:{SECRET_VALUE}@[::1/db",
            "s3://",
            "s3://b",
            "s3://bucket/x",
            "file://",
            "file:///tmp/x",
            "http://h:0",
            "https://h:65535/p",
            "0 2 * * *",
            "* * * * * *",
            "@daily",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(VARIABLES), values, max_size=4))
def test_loading_any_values_gives_settings_or_one_line_per_problem(env: dict[str, str]) -> None:
    env = {name: value.replace("\x00", "") for name, value in env.items()}  # the OS refuses NUL in env
    with mock.patch.dict(os.environ, env, clear=True):
        try:
            load_settings()
        except ConfigError as exc:
            assert exc.problems
            for line in exc.problems:
                name = line.split(":", 1)[0].split("=", 1)[0].split(".")[0].split("/")[0].split(",")[0]
                assert name in {*VARIABLES, "settings"}, line
                if name in SECRETS and len(env.get(name, "")) >= 4:
                    assert env[name] not in line, line  # a secret's problem never shows its value


@given(st.sampled_from(sorted(RANGES)), st.integers(-(10**7), 10**7))
def test_numbers_load_exactly_when_in_their_range(field: str, number: int) -> None:
    low, high, _ = RANGES[field]
    variable = str(Settings.model_fields[field].validation_alias.choices[0])
    keep_something = "BACKUP_KEEP_DAILY" if variable == "BACKUP_KEEP_LAST" else "BACKUP_KEEP_LAST"
    with mock.patch.dict(os.environ, {keep_something: "1", variable: str(number)}, clear=True):
        try:
            loaded = load_settings()
        except ConfigError as exc:
            assert not low <= number <= high
            assert exc.problems[0].startswith(f"{variable}: must be between {low} and {high}")
        else:
            assert low <= number <= high and getattr(loaded, field) == number


def test_a_recipients_file_holds_one_key_per_line_with_comments(tmp_path: Path, run_cli: Any) -> None:
    """The chart mounts BACKUP_AGE_RECIPIENTS_FILE with one key per line; it was also read as the
    comma-separated BACKUP_AGE_RECIPIENTS, which broke with two keys."""
    from panel_backup.crypto import generate_key_file

    keys = [generate_key_file(tmp_path / f"key-{index}.txt") for index in range(2)]
    recipients = tmp_path / "recipients"
    recipients.write_text(f"# the operators' keys\n{keys[0]}\n{keys[1]}\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    env = {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_RECIPIENTS_FILE": str(recipients),
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
    }
    created = run_cli(["create", "files", "--json"], env)
    assert created.exit_code == 0, created.output
    import json

    assert len(json.loads(created.stdout)["encryption"]["recipient_fingerprints"]) == 2
    for index in range(2):
        identity = {**env, "BACKUP_AGE_IDENTITY_FILE": str(tmp_path / f"key-{index}.txt")}
        assert run_cli(["verify", "latest", "--full"], identity).exit_code == 0
