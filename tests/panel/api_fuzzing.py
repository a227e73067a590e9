"""The app that schemathesis drives (test_openapi_fuzz.py, test_openapi_stateful.py), and its settings.

The real app on PostgreSQL and Redis, called in-process through WSGI, authenticated as an admin
whose token is minted afresh for each request (so a fuzzed password change, which signs the user
out everywhere, never leaves the rest of the run answering 401).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import schemathesis
from flask import Flask
from panel import cache
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.auth.tokens import issue_token_pair
from panel.extensions import db, redis_client
from panel.models import Server, User
from panel_helpers import make_settings, migrate
from sqlalchemy import delete, text

ADMIN = "fuzzadmin"
PASSWORD = "fuzz-admin-password-123"

# Schema-valid requests that the app rightly refuses, for reasons no JSON Schema can state.
CURSOR_OPERATIONS = ["listServers", "listUsers", "listAudit"]  # a cursor is opaque: only next_cursor works
PASSWORD_OPERATIONS = ["createUser", "updateUser"]  # the password policy (breached, guessable) -> 422
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def config(max_examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": max_examples, "deterministic": True},
            "operations": [
                {
                    "include-operation-id": CURSOR_OPERATIONS,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
                },
                {
                    "include-operation-id": PASSWORD_OPERATIONS,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
                },
            ],
        }
    )


@contextmanager
def fuzzed_app(postgres_server: Any, redis_server: Any, redis_db: int) -> Iterator[Flask]:
    url = postgres_server.url(postgres_server.create_database())
    migrate(url)
    app = create_app(
        make_settings(
            url,
            redis_server.url(redis_db),
            login_rate_limit=100_000,
            login_address_limit=100_000,
            login_user_free_failures=100_000,
        )
    )
    with app.app_context():
        session = db()
        session.add(User(username=ADMIN, role="admin", password_hash=hash_password(PASSWORD)))
        session.commit()
    reset(app)
    try:
        yield app
    finally:
        app.extensions["panel"].close()


def reset(app: Flask) -> None:
    """Back to the seed: three servers, the admin, nothing else (a stateful scenario starts here)."""
    with app.app_context():
        session = db()
        session.execute(
            text("TRUNCATE servers, server_tags, check_results, audit_log RESTART IDENTITY CASCADE")
        )
        session.execute(delete(User).where(User.username != ADMIN))  # through the ORM: auth caches follow
        for i in range(3):
            server = Server(name=f"seed-{i}", address="127.0.0.1", port=1 + i, protocol="tcp", owner="team")
            server.set_tags(["seed"])
            session.add(server)
        session.commit()
        cache.invalidate(redis_client())


def load_schema(app: Flask, max_examples: int) -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", app, config=config(max_examples))

    @schema.auth(refresh_interval=None)
    class _FreshAdminToken:
        def get(self, case: Any, context: Any) -> str:
            with app.app_context():
                admin = db().query(User).filter_by(username=ADMIN).one()
                token: str = issue_token_pair(admin)["access_token"]
                db().rollback()
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema
