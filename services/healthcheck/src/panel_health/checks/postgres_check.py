"""PostgreSQL: connect + ``SELECT 1`` latency and connections in use against ``max_connections``."""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

import psycopg2

from panel_health.checks.base import PREFIX, classify, down, finish, safe_message
from panel_health.results import CheckResult, Sample, observe
from panel_health.settings import PostgresConfig

KIND = "postgres"


def check_postgres(url: str, config: PostgresConfig, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    password = urlsplit(url).password or ""
    # libpq rounds connect_timeout to whole seconds (minimum 2); the runner's deadline still bounds us.
    timeout_ms = max(1, int(timeout_seconds * 1000))
    try:
        conn = psycopg2.connect(
            url,
            connect_timeout=max(2, math.ceil(timeout_seconds)),
            options=f"-c statement_timeout={timeout_ms}",
            application_name="panel-health",
        )
    except psycopg2.Error as exc:
        return down(KIND, "", started, classify(exc), safe_message(exc, (password, url)))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            query_started = time.monotonic()
            cur.execute("SELECT 1")
            cur.fetchone()
            latency = time.monotonic() - started
            query_latency = time.monotonic() - query_started
            cur.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
                " current_setting('max_connections')::int"
            )
            row = cur.fetchone()
    except psycopg2.Error as exc:
        return down(KIND, "", started, classify(exc), safe_message(exc, (password, url)))
    finally:
        conn.close()
    connections, max_connections = (int(row[0]), int(row[1])) if row else (0, 1)
    ratio = connections / max_connections if max_connections else 0.0
    samples = [
        Sample(f"{PREFIX}_postgres_connect_query_duration_seconds", "Connect plus SELECT 1.", latency),
        Sample(f"{PREFIX}_postgres_query_duration_seconds", "SELECT 1 on an open connection.", query_latency),
        Sample(f"{PREFIX}_postgres_connections", "Client connections (pg_stat_activity).", connections),
        Sample(f"{PREFIX}_postgres_max_connections", "The server's max_connections.", max_connections),
        Sample(f"{PREFIX}_postgres_connections_used_ratio", "connections / max_connections (0-1).", ratio),
    ]
    observations = [
        observe(
            "responseTime", latency, "s", config.latency_warning_seconds, config.latency_critical_seconds
        ),
        observe(
            "connectionsUsedRatio",
            round(ratio, 4),
            "ratio",
            config.connections_warning_ratio,
            config.connections_critical_ratio,
        ),
    ]
    return finish(
        KIND, "", started, observations, samples, message=f"{connections}/{max_connections} connections"
    )
