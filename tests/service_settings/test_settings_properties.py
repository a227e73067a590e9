"""Property tests: whatever the environment, the files and the YAML hold, loading either returns the value
the precedence rules say, or raises SettingsError of single lines; redaction never lets a secret through."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sample_settings import BackupLike, HealthLike, PanelLike
from service_settings import MASK, SecretRegistry, SettingsError, load, redact_url, scrub

# Text that survives the environment: no NUL (the kernel cannot pass it) and valid UTF-8.
env_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
value_text = env_text.map(str.strip).filter(bool)
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(directory: Path, name: str, data: str | bytes) -> str:
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def _single_lines(error: SettingsError) -> bool:
    return bool(error.problems) and all(line and line.isprintable() for line in error.problems)


@PROPERTY
@given(direct=st.none() | value_text, in_file=st.none() | value_text, in_yaml=st.none() | value_text)
def test_precedence_holds_for_any_values(
    direct: str | None, in_file: str | None, in_yaml: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        environ: dict[str, str] = {}
        if direct is not None:
            environ["AWS_SECRET_ACCESS_KEY"] = direct
        if in_file is not None:
            environ["AWS_SECRET_ACCESS_KEY_FILE"] = _write(Path(tmp), "key", in_file + "\n")
        if in_yaml is not None:
            environ["BACKUP_CONFIG_FILE"] = _write(
                # Double-quoted: a plain scalar would fold YAML line breaks such as U+0085 into spaces.
                Path(tmp),
                "b.yaml",
                yaml.safe_dump({"aws_secret_access_key": in_yaml}, allow_unicode=True, default_style='"'),
            )
        if direct is not None and in_file is not None:
            try:
                load(BackupLike, environ=environ)
            except SettingsError as error:
                assert error.problems == [
                    "AWS_SECRET_ACCESS_KEY and AWS_SECRET_ACCESS_KEY_FILE are both set; unset one of them"
                ]
            else:
                raise AssertionError("both forms set must be refused")
            return
        expected = direct if direct is not None else in_file if in_file is not None else in_yaml
        assert load(BackupLike, environ=environ).aws_secret_access_key == expected


@PROPERTY
@given(content=st.binary(max_size=200))
def test_any_bytes_in_a_file_give_the_value_or_one_line(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "secret", content)
        try:
            value = load(PanelLike, environ={"SECRET_KEY_FILE": path}).secret_key
        except SettingsError as error:
            assert _single_lines(error)
            assert all(line.startswith("SECRET_KEY_FILE: ") for line in error.problems)
        else:
            assert value == content.decode("utf-8-sig").strip()
            assert value and "\x00" not in value


@PROPERTY
@given(text=st.text(max_size=300))
def test_any_yaml_text_gives_settings_or_one_line_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "h.yaml", text)
        try:
            load(HealthLike, environ={"PANEL_HEALTH_CONFIG": path})
        except SettingsError as error:
            assert _single_lines(error)


yaml_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY
@given(
    data=st.dictionaries(
        st.sampled_from(["exporter", "queues", "panel_url", "port", "Exporter"]), yaml_values
    )
)
def test_any_yaml_structure_gives_settings_or_one_line_problems(data: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "h.yaml", yaml.safe_dump(data))
        try:
            load(HealthLike, environ={"PANEL_HEALTH_CONFIG": path})
        except SettingsError as error:
            assert _single_lines(error)


@PROPERTY
@given(
    environ=st.dictionaries(
        st.sampled_from(["WEB_CONCURRENCY", "PANEL_ENV", "CHECK_TIMEOUT_SECONDS", "UPLOADS_DIR"]), env_text
    )
)
def test_any_environment_gives_settings_or_one_line_problems(environ: dict[str, str]) -> None:
    try:
        load(PanelLike, environ=environ)
    except SettingsError as error:
        assert _single_lines(error)


# Passwords never contain the characters that end a URL's userinfo in text (/ ? # whitespace quotes <>),
# as in any URL a driver or library prints.
password_chars = st.characters(
    min_codepoint=33, max_codepoint=126, blacklist_characters="/?#\"'<>:"
) | st.sampled_from("@:")
passwords = st.text(password_chars, min_size=6, max_size=30).filter(lambda p: not p.startswith("@"))
words = st.text(st.sampled_from("abcdefghij .,-"), max_size=20)


@PROPERTY
@given(
    before=words,
    after=words,
    user=st.text(st.sampled_from("abcdefghij_"), max_size=10),
    password=passwords,
    host=st.sampled_from(["db", "db.example.org:5432", "10.0.0.1"]),
    scheme=st.sampled_from(["postgresql", "postgresql+psycopg2", "redis", "https", "amqp"]),
)
def test_scrub_never_lets_a_url_password_through(
    before: str, after: str, user: str, password: str, host: str, scheme: str
) -> None:
    assume(password not in f"{before} {after} {user} {host} {scheme}")
    url = f"{scheme}://{user}:{password}@{host}/x"
    scrubbed = scrub(f"{before}{url} {after}", SecretRegistry())
    assert password not in scrubbed.replace(f"{user}:{MASK}@{host}", "")
    assert f"{scheme}://{user}:{MASK}@{host}/x" in scrubbed
    assert redact_url(url) == f"{scheme}://{user}:{MASK}@{host}/x"


@PROPERTY
@given(secret=st.text(min_size=4, max_size=30).filter(lambda s: s.strip() == s and len(s) >= 4), noise=words)
def test_a_registered_secret_is_never_in_scrubbed_text(secret: str, noise: str) -> None:
    registry = SecretRegistry()
    registry.add(secret)
    for text in (f"{noise}{secret}{noise}", f"{noise}{secret!r}", json.dumps({"v": secret})):
        assert secret not in scrub(text, registry)


@PROPERTY
@given(text=st.text(max_size=200))
def test_scrub_is_idempotent(text: str) -> None:
    once = scrub(text, SecretRegistry())
    assert scrub(once, SecretRegistry()) == once
