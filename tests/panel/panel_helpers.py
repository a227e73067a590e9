"""Small helpers shared by the panel tests (imported as ``from panel_helpers import ...``)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from panel import jobs, schema
from panel.checks import engine
from panel.db import make_engine
from panel.extensions import resources
from panel.settings import Settings, load_settings
from rq import SimpleWorker
from werkzeug.test import TestResponse

TEST_SECRET = "test-secret-0123456789-0123456789-abcdef"


def body(response: TestResponse) -> Any:
    """The response's JSON body (typed Any, so tests can index it without casts)."""
    return response.get_json(silent=True)


def migrate(database_url: str) -> None:
    engine = make_engine(load_settings(environ={}, database_url=database_url))
    schema.upgrade(engine)
    engine.dispose()


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "panel_env": "testing",
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": TEST_SECRET,
        "jwt_secret": TEST_SECRET[::-1],
        "check_timeout_seconds": 2.0,
        "check_interval_seconds": 0,
        "login_rate_limit": 1000,
        "login_address_limit": 1000,
        "login_user_free_failures": 1000,
        **overrides,
    }
    return load_settings(environ={}, **values)


def run_jobs(app: Flask) -> None:
    """Run every job waiting in the panel's queues, in this process, inside the app context, and wait
    for the check-all rounds they started to store their results (as ``panel worker --burst`` does)."""
    with app.app_context():
        connection = resources().redis
        SimpleWorker(jobs.worker_queues(connection), connection=connection).work(
            burst=True, logging_level="WARNING"
        )
        engine.wait_all(timeout=120)
