"""Operations endpoints: /livez (the process answers), /readyz (can this pod serve?).

Readiness fails only for what makes a pod useless: the database unreachable, or its schema behind what
this image needs. A schema *ahead* of this image is fine (expand/contract migrations, see schema.py): old
pods stay ready while a new release migrates. Redis is reported but never fails readiness: without it a
pod still serves sign-in pages and Bearer reads, and a Redis outage would otherwise empty every Service.

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


# Checks whose failure makes the pod unready; the others are reported only.
_REQUIRED = ("database",)


def _check_database(res: Resources) -> str:
    with res.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    found = schema.state(res.engine)
    return "ok" if found.standing.serves_this_image else f"{found.describe()}; run `panel migrate`"


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
    ready = all(checks[name] == "ok" for name in _REQUIRED)
    status = "unavailable" if not ready else "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return jsonify(status=status, checks=checks), 200 if ready else 503
