"""Schemathesis against the served OpenAPI document of API v2, authenticated as an admin.

Bad input must never produce a 5xx, and every answer must match the document (status codes,
content types, bodies). Bounded examples per operation keep the run short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from panel.app import create_app
from panel.auth.passwords import hash_password
from panel.extensions import db
from panel.models import Server, User
from panel_helpers import body, make_settings, migrate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

PASSWORD = "fuzz-admin-password-123"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # schemathesis 3.x internals


@pytest.fixture(scope="module")
def fuzz_app(postgres_server: Any, redis_server: Any) -> Iterator[Flask]:
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    migrate(url)
    app = create_app(
        make_settings(
            url,
            redis_server.url(3),
            login_rate_limit=100_000,
            login_address_limit=100_000,
            login_user_free_failures=100_000,
        )
    )
    with app.app_context():
        session = db()
        session.add(User(username="fuzzadmin", role="admin", password_hash=hash_password(PASSWORD)))
        for i in range(3):
            server = Server(name=f"seed-{i}", address="127.0.0.1", port=1 + i, protocol="tcp", owner="team")
            server.set_tags(["seed"])
            session.add(server)
        session.commit()
    yield app
    app.extensions["panel"].engine.dispose()


@pytest.fixture(scope="module")
def admin_headers(fuzz_app: Flask) -> dict[str, str]:
    response = fuzz_app.test_client().post(
        "/api/v2/auth/token", json={"username": "fuzzadmin", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {body(response)['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return schemathesis.from_wsgi(
        "/api/v2/openapi.json",
        fuzz_app,
        base_url="/api/v2",
        data_generation_methods=[
            schemathesis.DataGenerationMethod.positive,
            schemathesis.DataGenerationMethod.negative,
        ],
    )


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_v2_conforms_and_never_fails(case: Any, admin_headers: dict[str, str]) -> None:
    headers = {**(case.headers or {})}
    if "/auth/" not in case.path:
        headers.update(admin_headers)
    response = case.call_wsgi(headers=headers)
    case.validate_response(
        response,
        checks=(
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ),
    )
