"""Secret redaction and the JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sample_settings import BackupLike, HealthLike, PanelLike
from service_settings import MASK, configure_logging, load, redact_url, register_secret, scrub


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://panel:pw@db:5432/panel", "postgresql://panel:***@db:5432/panel"),
        ("postgresql://panel:p@ss@db/panel", "postgresql://panel:***@db/panel"),
        ("https://ghp_tokenvalue@github.com/x.git", "https://***@github.com/x.git"),
        ("https://hooks.example.org/h?token=abc&x=1", "https://hooks.example.org/h?***"),
        ("redis://:only-password@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("postgresql://u:pa[ss@db/x", "postgresql://u:***@db/x"),  # urlsplit refuses the "["
        ("http://h:notaport/", "http://h:notaport/"),
        ("not a url at all", MASK),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'connect to "postgresql://u:s3cret@db/p" failed',
            'connect to "postgresql://u:***@db/p" failed',
        ),
        ("GET https://x.org/a?sig=abc HTTP/1.1", "GET https://x.org/a?*** HTTP/1.1"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x done",
            "token *** done",
        ),
        ("no secrets here: https://example.org/path", "no secrets here: https://example.org/path"),
    ],
)
def test_scrub_shapes(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_registered_secrets_are_masked_anywhere_and_short_ones_ignored() -> None:
    register_secret("correct-horse")
    register_secret("abc")  # too short to mask without garbling everything
    assert scrub("auth failed for correct-horse (abc)") == f"auth failed for {MASK} (abc)"


def test_loading_registers_every_secret_field(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("aws-secret-value-123\n")
    load(
        BackupLike,
        environ={"AWS_SECRET_ACCESS_KEY_FILE": str(key), "DATABASE_URL": "postgresql://u:db-pass-987@h/d"},
    )
    load(HealthLike, environ={"REDIS_URL": "redis://:redis-pass-555@r:6379/0"})
    load(PanelLike, environ={"SECRET_KEY": "panel-secret-key-42"})
    text = "aws-secret-value-123 db-pass-987 redis-pass-555 panel-secret-key-42"
    assert scrub(text) == " ".join([MASK] * 4)


def test_non_secret_settings_are_not_registered() -> None:
    load(PanelLike, environ={"UPLOADS_DIR": "/srv/uploads-dir"})
    assert scrub("/srv/uploads-dir") == "/srv/uploads-dir"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], root.level = saved


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_the_standard_fields_and_extras(log_stream: io.StringIO) -> None:
    configure_logging("INFO", stream=log_stream)
    logging.getLogger("svc.part").info("started %s", "now", extra={"port": 8000})
    logging.getLogger("svc.part").debug("hidden")
    (line,) = lines(log_stream)
    assert line["level"] == "INFO" and line["logger"] == "svc.part" and line["message"] == "started now"
    assert line["port"] == 8000 and line["time"]


def test_request_id_fields_come_from_the_service_context(log_stream: io.StringIO) -> None:
    current: dict[str, str | None] = {"request_id": None}
    configure_logging("INFO", stream=log_stream, context=lambda: current)
    logging.getLogger("panel").info("outside a request")
    current.update(request_id="req-1", trace_id="trace-1")
    logging.getLogger("panel").info("inside")
    outside, inside = lines(log_stream)
    assert "request_id" not in outside
    assert (inside["request_id"], inside["trace_id"]) == ("req-1", "trace-1")


def test_secrets_are_scrubbed_before_json_encoding(log_stream: io.StringIO) -> None:
    # After encoding, a quote or backslash in a secret is escaped and would no longer match.
    register_secret('pa"ss\\word')
    configure_logging("INFO", stream=log_stream)
    log = logging.getLogger("svc")
    log.info(
        'login with pa"ss\\word', extra={"dsn": "postgresql://u:pw123@h/db", "nested": {"k": 'pa"ss\\word'}}
    )
    try:
        raise RuntimeError('driver said pa"ss\\word is wrong')
    except RuntimeError:
        log.exception("failed")
    text = log_stream.getvalue()
    assert 'pa\\"ss' not in text and "pw123" not in text and "ss\\\\word" not in text
    first, second = lines(log_stream)
    assert first["message"] == f"login with {MASK}"
    assert first["dsn"] == f"postgresql://u:{MASK}@h/db" and first["nested"] == {"k": MASK}
    assert f"driver said {MASK} is wrong" in second["exc_info"]


def test_configuring_twice_never_writes_a_line_twice(log_stream: io.StringIO) -> None:
    configure_logging("INFO", stream=log_stream)
    configure_logging("WARNING", stream=log_stream)
    logging.getLogger("svc").warning("once")
    logging.getLogger("svc").info("filtered")
    assert [line["message"] for line in lines(log_stream)] == ["once"]


def test_quiet_loggers_are_held_at_warning(log_stream: io.StringIO) -> None:
    configure_logging("DEBUG", stream=log_stream, quiet=("chatty.client",))
    logging.getLogger("chatty.client").info("GET https://x/?token=1")
    logging.getLogger("chatty.client").warning("retrying")
    assert [line["message"] for line in lines(log_stream)] == ["retrying"]


def test_unknown_level_is_refused_with_the_accepted_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown log level 'loud'; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
    ):
        configure_logging("loud")
