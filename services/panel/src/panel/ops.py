"""Operations endpoints: /livez (the process answers), /readyz (database + Redis).

Metrics are not served here but on their own port (``panel.metrics.serve``, contract C2).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from panel import schema
from panel.extensions import Resources, resources

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)
# Readiness probes run here so a hung dependency costs the probe its timeout, not a stuck worker.
_probe_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _check_database(res: Resources) -> str:
    with res.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return (
        "ok"
        if schema.is_at_head(res.engine)
        else "schema is not at the newest migration; run `panel migrate`"
    )


def _check_redis(res: Resources) -> str:
    res.redis.ping()
    return "ok"


@bp.get("/livez")
def livez() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    res = resources()
    timeout = res.settings.readiness_timeout_seconds
    checks: dict[str, Any] = {}
    futures = {
        "database": _probe_pool.submit(_check_database, res),
        "redis": _probe_pool.submit(_check_redis, res),
    }
    for name, future in futures.items():
        try:
            checks[name] = future.result(timeout=timeout)
        except FutureTimeout:
            checks[name] = f"no answer within {timeout}s"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            log.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
            checks[name] = f"unavailable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
