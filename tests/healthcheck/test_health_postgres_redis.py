"""PostgreSQL and Redis checks against the session's real servers."""

from __future__ import annotations

from collections.abc import Callable

import psycopg2
import pytest
import redis
from panel_health.checks import build_checks
from panel_health.results import CheckResult, Status
from panel_health.runner import run_checks
from panel_health.settings import HealthSettings
from support.servers import PostgresServer, free_port


def _one(settings: HealthSettings, name: str) -> CheckResult:
    return run_checks(build_checks(settings, (name,)), 20)[0]


def _values(result: CheckResult) -> dict[str, float]:
    return {s.name: s.value for s in result.samples if not s.labels}


@pytest.mark.postgres
def test_postgres_up_with_connection_ratio(
    make_settings: Callable[..., HealthSettings], postgres_database: str
) -> None:
    held = [psycopg2.connect(postgres_database) for _ in range(3)]
    try:
        settings = make_settings(
            database_url=postgres_database,
            postgres={"latency_warning_seconds": 30, "latency_critical_seconds": 60},
        )
        result = _one(settings, "postgres")
    finally:
        for conn in held:
            conn.close()
    values = _values(result)
    assert result.up and result.status is Status.PASS
    assert values["panel_health_postgres_max_connections"] == 200  # the fixture's setting
    assert values["panel_health_postgres_connections"] >= 4  # ours plus the check's own
    assert values["panel_health_postgres_connections_used_ratio"] == pytest.approx(
        values["panel_health_postgres_connections"] / 200
    )


@pytest.mark.postgres
def test_postgres_connection_pressure_warns(
    make_settings: Callable[..., HealthSettings], postgres_database: str
) -> None:
    held = [psycopg2.connect(postgres_database) for _ in range(5)]
    try:
        settings = make_settings(
            database_url=postgres_database,
            postgres={
                "connections_warning_ratio": 0.02,
                "connections_critical_ratio": 0.9,
                "latency_warning_seconds": 30,
                "latency_critical_seconds": 60,
            },
        )
        result = _one(settings, "postgres")
    finally:
        for conn in held:
            conn.close()
    assert result.up and result.status is Status.WARN


@pytest.mark.postgres
def test_postgres_wrong_password_is_auth_failed_and_secret_free(
    make_settings: Callable[..., HealthSettings], postgres_server: PostgresServer
) -> None:
    url = postgres_server.url().replace(postgres_server.password, "wrong-pa55word")
    result = _one(make_settings(database_url=url), "postgres")
    assert (result.up, result.reason) == (False, "auth_failed")
    assert "wrong-pa55word" not in result.message


def test_postgres_nothing_listening(make_settings: Callable[..., HealthSettings]) -> None:
    result = _one(make_settings(database_url=f"postgresql://u:p@127.0.0.1:{free_port()}/x"), "postgres")
    assert (result.up, result.reason) == (False, "connection_refused")


@pytest.mark.redis
def test_redis_memory_clients_and_latency(
    make_settings: Callable[..., HealthSettings], redis_url: str
) -> None:
    settings = make_settings(
        redis_url=redis_url, redis={"latency_warning_seconds": 30, "latency_critical_seconds": 60}
    )
    result = _one(settings, "redis")
    values = _values(result)
    assert result.up and result.status is Status.PASS
    assert values["panel_health_redis_memory_max_bytes"] == 256 * 1024 * 1024  # the fixture's maxmemory
    assert 0 < values["panel_health_redis_memory_used_ratio"] < 1
    assert values["panel_health_redis_connected_clients"] >= 1


@pytest.mark.redis
def test_redis_memory_pressure_fails(make_settings: Callable[..., HealthSettings], redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("ballast", b"x" * 4_000_000)
    used = int(client.info("memory")["used_memory"])
    client.close()
    ratio = used / (256 * 1024 * 1024)
    settings = make_settings(
        redis_url=redis_url, redis={"memory_warning_ratio": ratio / 4, "memory_critical_ratio": ratio / 2}
    )
    assert _one(settings, "redis").status is Status.FAIL


def test_redis_nothing_listening(make_settings: Callable[..., HealthSettings]) -> None:
    result = _one(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"), "redis")
    assert (result.up, result.reason) == (False, "connection_refused")
