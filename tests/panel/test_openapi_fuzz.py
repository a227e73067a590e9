"""Schemathesis over every operation of the served OpenAPI document, one at a time (stateless).

Valid and invalid input, authenticated as an admin: no 5xx, every answer as documented (status,
content type, headers, body), valid input accepted and invalid input refused, and authentication
enforced (schemathesis retries each operation without and with a wrong token). PostgreSQL and Redis
are real; the app is called in-process. The stateful run (links) is test_openapi_stateful.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_fuzzing import fuzzed_app, load_schema
from flask import Flask
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def fuzz_app(postgres_server: Any, redis_server: Any) -> Iterator[Flask]:
    with fuzzed_app(postgres_server, redis_server, redis_db=3) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return load_schema(fuzz_app, max_examples=25)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_v2_conforms_and_never_fails(case: Any) -> None:
    case.call_and_validate()
