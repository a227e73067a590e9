"""The sources: environment, <NAME>_FILE, YAML overlay; precedence; one line per problem."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import field_validator
from sample_settings import BackupLike, HealthLike, PanelLike
from service_settings import EXIT_CONFIG, ServiceSettings, SettingsError, exit_with, load


def problems(settings_cls: type[ServiceSettings], **kwargs: object) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(settings_cls, **kwargs)  # type: ignore[arg-type]
    for line in caught.value.problems:
        assert line.isprintable() and line.strip() == line and line, line
    return caught.value.problems


def write(path: Path, text: str | bytes) -> str:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


# --- precedence ---------------------------------------------------------------------------------


def test_precedence_is_overrides_then_environment_then_file_then_yaml_then_default(tmp_path: Path) -> None:
    yaml_file = write(tmp_path / "backup.yaml", "zstd_level: 5\ntarget: file:///yaml\n")
    secret = write(tmp_path / "key", "from-file\n")
    environ = {"BACKUP_CONFIG_FILE": yaml_file}
    assert load(BackupLike, environ=environ).zstd_level == 5
    assert load(BackupLike, environ={**environ, "BACKUP_ZSTD_LEVEL": "7"}).zstd_level == 7
    assert load(BackupLike, environ={**environ, "BACKUP_ZSTD_LEVEL": "7"}, zstd_level=9).zstd_level == 9
    assert load(BackupLike, environ={}).zstd_level == 3
    # A _FILE value beats the YAML file and loses to nothing else.
    loaded = load(BackupLike, environ={**environ, "AWS_SECRET_ACCESS_KEY_FILE": secret})
    assert loaded.aws_secret_access_key == "from-file"
    assert loaded.target == "file:///yaml"


def test_the_environment_is_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert load(PanelLike).web_concurrency == 5
    assert load(PanelLike, environ={}).web_concurrency == 2  # an explicit environment hides it
    assert PanelLike().web_concurrency == 5  # plain instantiation reads the same sources


def test_variable_names_are_case_insensitive_unless_the_settings_say_otherwise() -> None:
    assert load(PanelLike, environ={"web_concurrency": "4"}).web_concurrency == 4
    assert load(BackupLike, environ={"backup_zstd_level": "4"}).zstd_level == 4


def test_yaml_keys_are_field_names_or_variable_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "b.yaml", "BACKUP_ZSTD_LEVEL: 4\nage_recipients: [age1a, age1b]\nemail_to: a@x,b@x\n"
    )
    loaded = load(BackupLike, environ={"BACKUP_CONFIG_FILE": path})
    assert (loaded.zstd_level, loaded.age_recipients, loaded.email_to) == (
        4,
        ["age1a", "age1b"],
        ["a@x", "b@x"],
    )


def test_config_file_argument_wins_over_the_variable(tmp_path: Path) -> None:
    named = write(tmp_path / "named.yaml", "exporter: {port: 1000}\n")
    given = write(tmp_path / "given.yaml", "exporter: {port: 2000}\n")
    loaded = load(HealthLike, environ={"PANEL_HEALTH_CONFIG": named}, config_file=given)
    assert loaded.exporter.port == 2000


def test_comma_lists_from_the_environment() -> None:
    loaded = load(BackupLike, environ={"BACKUP_EMAIL_TO": " ops@x.org, ,dev@x.org ,"})
    assert loaded.email_to == ["ops@x.org", "dev@x.org"]


# --- only the declared variables are read --------------------------------------------------------


def test_only_environment_fields_are_read_from_the_environment(tmp_path: Path) -> None:
    # EXPORTER or QUEUES in the environment must never change a YAML-only setting.
    environ = {"EXPORTER": '{"port": 1}', "QUEUES": '["x"]', "DEFAULT_TIMEOUT_SECONDS": "1"}
    loaded = load(HealthLike, environ=environ)
    assert (loaded.exporter.port, loaded.queues, loaded.default_timeout_seconds) == (9117, ["panel"], 5.0)
    assert load(HealthLike, environ={"PANEL_URL": "http://p:1"}).panel_url == "http://p:1"


def test_unrelated_variables_are_ignored_where_extras_are_ignored() -> None:
    assert load(PanelLike, environ={"HOME": "/root", "PATH": "/bin"}).web_concurrency == 2


# --- <NAME>_FILE ---------------------------------------------------------------------------------


def test_file_value_is_stripped_and_a_byte_order_mark_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "s", "\ufeff  s3cr3t-value \n\n".encode())
    assert load(PanelLike, environ={"SECRET_KEY_FILE": path}).secret_key == "s3cr3t-value"


def test_every_panel_field_has_a_file_form(tmp_path: Path) -> None:
    path = write(tmp_path / "n", "3\n")
    assert load(PanelLike, environ={"WEB_CONCURRENCY_FILE": path}).web_concurrency == 3


def test_file_values_are_validated_like_environment_values(tmp_path: Path) -> None:
    path = write(tmp_path / "n", "many\n")
    assert problems(PanelLike, environ={"WEB_CONCURRENCY_FILE": path}) == [
        "WEB_CONCURRENCY: Input should be a valid integer, unable to parse string as an integer (got 'many')"
    ]


def test_a_secret_file_value_never_appears_in_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s", "hunter2-hunter2\n")
    lines = problems(PanelLike, environ={"SECRET_KEY_FILE": path, "PANEL_ENV": "production"})
    assert lines == ["SECRET_KEY: set a random value of at least 32 characters in production"]
    bad_url = problems(HealthLike, environ={"DATABASE_URL": "x"}, database_url=123)
    assert all("123" not in line for line in bad_url)


def test_both_the_variable_and_its_file_set_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s", "from-file")
    assert problems(PanelLike, environ={"SECRET_KEY": "direct", "SECRET_KEY_FILE": path}) == [
        "SECRET_KEY and SECRET_KEY_FILE are both set; unset one of them"
    ]


def test_empty_variable_or_empty_file_variable_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path / "s", "from-file")
    # Charts render `value: ""` for an unset value; that must not clash with the file form.
    assert load(PanelLike, environ={"SECRET_KEY": "", "SECRET_KEY_FILE": path}).secret_key == "from-file"
    assert load(PanelLike, environ={"SECRET_KEY_FILE": ""}).secret_key == "dev-secret-key-change-me"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty; write the value into it or unset SECRET_KEY_FILE"),
        (" \n\t\n", "is empty; write the value into it or unset SECRET_KEY_FILE"),
        (b"\xff\xfe\x00k", "is not UTF-8 text (byte 0); save it as UTF-8"),
        (b"caf\xe9", "is not UTF-8 text (byte 3); save it as UTF-8"),
        ("a\x00b", "contains a NUL byte; write the value as plain text"),
        ("x" * (64 * 1024 + 1), "is larger than 64 KiB; point SECRET_KEY_FILE at the right file"),
    ],
    ids=["empty", "blank", "utf16", "latin1", "nul", "huge"],
)
def test_bad_secret_files_are_one_line_naming_the_fix(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    path = write(tmp_path / "secret", content)
    assert problems(PanelLike, environ={"SECRET_KEY_FILE": path}) == [f"SECRET_KEY_FILE: {path} {expected}"]


def test_missing_directory_fifo_and_device_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would block the start forever
    cases = {
        str(
            tmp_path / "nope"
        ): f"SECRET_KEY_FILE: cannot read {tmp_path / 'nope'} (No such file or directory); "
        "mount the file there or unset SECRET_KEY_FILE",
        str(
            tmp_path
        ): f"SECRET_KEY_FILE: {tmp_path} is a directory; mount the file there or unset SECRET_KEY_FILE",
        str(
            fifo
        ): f"SECRET_KEY_FILE: {fifo} is not a regular file; mount the file there or unset SECRET_KEY_FILE",
        "/dev/zero": "SECRET_KEY_FILE: /dev/zero is not a regular file; "
        "mount the file there or unset SECRET_KEY_FILE",
    }
    for path, expected in cases.items():
        assert problems(PanelLike, environ={"SECRET_KEY_FILE": path}) == [expected]


def test_a_path_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "a\nb")
    assert problems(PanelLike, environ={"SECRET_KEY_FILE": path}) == [
        f"SECRET_KEY_FILE: cannot read {tmp_path}/a\\nb (No such file or directory); "
        "mount the file there or unset SECRET_KEY_FILE"
    ]


def test_only_declared_fields_have_a_file_form(tmp_path: Path) -> None:
    path = write(tmp_path / "t", "s3://b/p")
    assert load(BackupLike, environ={"BACKUP_TARGET_FILE": path}).target is None
    assert set(BackupLike.file_variables().values()) == {"DATABASE_URL_FILE", "AWS_SECRET_ACCESS_KEY_FILE"}


def test_a_file_name_owned_by_another_field_is_that_fields_value(tmp_path: Path) -> None:
    # BACKUP_AGE_RECIPIENTS_FILE is its own setting (a file of keys, one per line, # comments). Read as
    # the file form of BACKUP_AGE_RECIPIENTS too, the whole file would become one bogus recipient.
    keys = write(tmp_path / "recipients", "# team\nage1aaaa\nage1bbbb\n")
    loaded = load(BackupLike, environ={"BACKUP_AGE_RECIPIENTS_FILE": keys})
    assert loaded.age_recipients == []
    assert loaded.age_recipients_file == Path(keys)
    assert "age_recipients" not in BackupLike.file_variables()


def test_health_reads_file_forms_of_its_four_variables(tmp_path: Path) -> None:
    url = write(tmp_path / "db", "postgresql://panel:pw@db:5432/panel\n")
    loaded = load(HealthLike, environ={"DATABASE_URL_FILE": url})
    assert loaded.database_url is not None
    assert loaded.database_url.get_secret_value() == "postgresql://panel:pw@db:5432/panel"


# --- the environment itself -------------------------------------------------------------------


def test_a_value_that_is_not_utf8_is_one_line() -> None:
    value = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python keeps such environment bytes
    assert problems(PanelLike, environ={"UPLOADS_DIR": value}) == [
        "UPLOADS_DIR: the value is not valid UTF-8; set it as UTF-8 text"
    ]


def test_complex_value_that_is_not_json_is_one_line() -> None:
    class WithList(ServiceSettings):
        hosts: list[str] = []

    assert problems(WithList, environ={"HOSTS": "a,b"}) == [
        'HOSTS: not valid JSON; write it as JSON (e.g. ["a", "b"] for a list, {"k": 1} for a map)'
    ]
    assert load(WithList, environ={"HOSTS": '["a", "b"]'}).hosts == ["a", "b"]


# --- YAML overlay -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "a: [1, 2\n",
            "not valid YAML at line 2, column 1 (expected ',' or ']', but got '<stream end>'); "
            "fix the syntax",
        ),
        ("- a\n- b\n", "the top level must be a mapping of setting: value, not a list"),
        ("just text\n", "the top level must be a mapping of setting: value, not a str"),
        (
            "zstd_level: 3\nzstd_level: 4\n",
            "not valid YAML at line 2, column 1 (key 'zstd_level' appears twice "
            "(first at line 1); keep one); fix the syntax",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "not valid YAML at line 2, column 1 (but found another document); fix the syntax",
        ),
        ("1: x\n", "top-level key 1 is not a setting name; check the file"),
        ("[" * 5000 + "]" * 5000, "nested too deeply to be a configuration; flatten it"),
    ],
    ids=["syntax", "list", "scalar", "duplicate", "two-documents", "number-key", "deep"],
)
def test_bad_yaml_files_are_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path / "b.yaml", content)
    assert problems(BackupLike, environ={"BACKUP_CONFIG_FILE": path}) == [
        f"BACKUP_CONFIG_FILE ({path}): {expected}"
    ]


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    assert problems(BackupLike, environ={"BACKUP_CONFIG_FILE": path}) == [
        f"BACKUP_CONFIG_FILE ({path}): expands to more than 100000 values through its aliases; "
        "write the values out"
    ]


def test_yaml_file_problems(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert problems(BackupLike, environ={"BACKUP_CONFIG_FILE": missing}) == [
        f"BACKUP_CONFIG_FILE: cannot read {missing} (No such file or directory); "
        "point BACKUP_CONFIG_FILE at an existing YAML file"
    ]
    latin1 = write(tmp_path / "l.yaml", b"target: caf\xe9\n")
    assert problems(BackupLike, environ={"BACKUP_CONFIG_FILE": latin1}) == [
        f"BACKUP_CONFIG_FILE: {latin1} is not UTF-8 text (byte 11); save it as UTF-8"
    ]
    given = problems(HealthLike, environ={}, config_file=missing)
    assert given == [
        f"the configuration file: cannot read {missing} (No such file or directory); "
        "point the configuration file at an existing YAML file"
    ]


def test_empty_yaml_file_and_empty_variable_mean_defaults(tmp_path: Path) -> None:
    empty = write(tmp_path / "e.yaml", "# nothing yet\n")
    assert load(HealthLike, environ={"PANEL_HEALTH_CONFIG": empty}).exporter.port == 9117
    assert load(HealthLike, environ={"PANEL_HEALTH_CONFIG": ""}).exporter.port == 9117


def test_unknown_keys_name_the_file_and_the_docs(tmp_path: Path) -> None:
    path = write(tmp_path / "h.yaml", "exporter: {port: 9000, prot: 1}\nexporterr: {}\n")
    hint = "unknown setting in PANEL_HEALTH_CONFIG; check its spelling against services/healthcheck/README.md"
    assert problems(HealthLike, environ={"PANEL_HEALTH_CONFIG": path}) == [
        f"exporter.prot: {hint}",
        f"exporterr: {hint}",
    ]


def test_nested_yaml_errors_name_the_path(tmp_path: Path) -> None:
    path = write(tmp_path / "h.yaml", "exporter:\n  port: 70000\n  scrape_timeout_seconds: .inf\n")
    assert problems(HealthLike, environ={"PANEL_HEALTH_CONFIG": path}) == [
        "exporter.port: Input should be less than or equal to 65535 (got 70000)",
        "exporter.scrape_timeout_seconds: Input should be a finite number (got inf)",
    ]
    backup = write(tmp_path / "b.yaml", "retention:\n  database: {last: -1}\n  logs: {last: 1}\n")
    lines = problems(BackupLike, environ={"BACKUP_CONFIG_FILE": backup})
    assert lines == [
        "retention.database.last: Input should be greater than or equal to 0 (got -1)",
        "retention.logs.[key]: Input should be 'database' or 'files' (got 'logs')",
    ]


# --- every problem at once ------------------------------------------------------------------


def test_every_problem_is_reported_in_one_go(tmp_path: Path) -> None:
    yaml_path = write(tmp_path / "b.yaml", "zstd_level: 40\nbogus: 1\n")
    lines = problems(
        BackupLike,
        environ={
            "BACKUP_CONFIG_FILE": yaml_path,
            "DATABASE_URL": "postgresql://x",
            "DATABASE_URL_FILE": str(tmp_path / "db"),
            "AWS_SECRET_ACCESS_KEY_FILE": str(tmp_path / "missing"),
        },
    )
    assert lines == [
        "DATABASE_URL and DATABASE_URL_FILE are both set; unset one of them",
        f"AWS_SECRET_ACCESS_KEY_FILE: cannot read {tmp_path / 'missing'} (No such file or directory); "
        "mount the file there or unset AWS_SECRET_ACCESS_KEY_FILE",
        "BACKUP_ZSTD_LEVEL: must be between 1 (fastest) and 19 (smallest) (got 40)",
        "bogus: unknown setting in BACKUP_CONFIG_FILE; check its spelling against services/backup/README.md",
    ]


def test_a_required_setting_names_its_variable_and_file_form() -> None:
    class Needs(ServiceSettings):
        secret_fields = frozenset({"token"})
        token: str

    assert problems(Needs, environ={}) == ["TOKEN: required; set TOKEN or TOKEN_FILE"]


def test_outside_load_a_source_problem_still_raises_one_line_per_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError) as caught:
        BackupLike()  # plain instantiation: the process environment
    assert caught.value.problems == [
        f"DATABASE_URL_FILE: cannot read {tmp_path / 'missing'} (No such file or directory); "
        "mount the file there or unset DATABASE_URL_FILE"
    ]


def test_a_class_naming_fields_it_lacks_fails_at_definition() -> None:
    with pytest.raises(TypeError, match=r"Broken.secret_fields names fields it does not have: \['pasword'\]"):

        class Broken(ServiceSettings):
            secret_fields = frozenset({"pasword"})
            password: str = ""


# --- exit code 2, no traceback -----------------------------------------------------------------


def test_exit_with_prints_one_line_per_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        exit_with(SettingsError(["A: bad; fix it", "B: worse; fix that"]), "panel-x")
    assert exited.value.code == EXIT_CONFIG == 2
    assert capsys.readouterr().err == (
        "panel-x: configuration error: A: bad; fix it\npanel-x: configuration error: B: worse; fix that\n"
    )


def test_a_program_using_the_library_exits_2_without_a_traceback(tmp_path: Path) -> None:
    program = write(
        tmp_path / "prog.py",
        textwrap.dedent(
            """
            from service_settings import ServiceSettings, SettingsError, exit_with, load

            class Settings(ServiceSettings):
                secret_fields = frozenset({"api_token"})
                api_token: str = "x"
                workers: int = 1

            try:
                load(Settings)
            except SettingsError as error:
                exit_with(error, "prog")
            """
        ),
    )
    env = {
        **os.environ,
        "WORKERS": "lots",
        "API_TOKEN_FILE": str(tmp_path / "token"),
        "API_TOKEN": "t0ken-value",
    }
    done = subprocess.run([sys.executable, program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "prog: configuration error: API_TOKEN and API_TOKEN_FILE are both set; unset one of them",
        "prog: configuration error: WORKERS: Input should be a valid integer, unable to parse string as an "
        "integer (got 'lots')",
    ]
    assert "Traceback" not in done.stderr and "t0ken-value" not in done.stderr


# --- two loads at once ---------------------------------------------------------------------------


def test_concurrent_loads_each_read_their_own_environment(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> int:
        path = write(tmp_path / f"n{n}", f"{n}\n")
        environ = {"WEB_CONCURRENCY_FILE": path} if n % 2 else {"WEB_CONCURRENCY": str(n)}
        return load(PanelLike, environ=environ).web_concurrency

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(1, 201))) == list(range(1, 201))


def test_a_rejected_url_is_echoed_without_its_password_or_query() -> None:
    """panel-health's PANEL_URL is not a secret, but `http://user:pass@host:99999` was echoed whole."""

    class WithUrl(ServiceSettings):
        panel_url: str = "http://127.0.0.1:8000"

        @field_validator("panel_url")
        @classmethod
        def _port(cls, value: str) -> str:
            raise ValueError("its port is not a number from 1 to 65535")

    lines = problems(WithUrl, environ={"PANEL_URL": "http://ops:hunter2@panel:99999/?token=t0ken"})
    assert lines == [
        "PANEL_URL: its port is not a number from 1 to 65535 (got 'http://ops:***@panel:99999/?***')"
    ]
