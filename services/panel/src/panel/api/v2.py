"""API v2: cursor-paginated, filterable, cached lists; problem+json errors; background checks."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, g, url_for
from sqlalchemy import select

from panel import audit, cache, jobs
from panel.accounts import create_user, update_user
from panel.api import cached_response, conditional, dumps, json_response
from panel.auth import require_role
from panel.errors import ApiError
from panel.extensions import db, redis_client, settings
from panel.inventory import (
    create_server,
    delete_server,
    get_server,
    queue_check,
    queue_check_all,
    update_server,
)
from panel.listing import SORT_CHOICES, ServerFilters, count_by_status, list_servers
from panel.models import AuditEntry, Role, ServerStatus, User, utcnow
from panel.validation import (
    MAX_DB_INT,
    OWNER_PATTERN,
    TAG_PATTERN,
    ServerCreate,
    ServerPatch,
    UserCreate,
    UserPatch,
    json_body,
    non_null_fields,
    only_query_parameters,
    parse,
    query_choice,
    query_int,
    query_text,
)

bp = Blueprint("api_v2", __name__, url_prefix="/api/v2")
WRITERS = (Role.ADMIN.value, Role.OPERATOR.value)
STATUSES = tuple(status.value for status in ServerStatus)
JOB_ID_PATTERN = r"[A-Za-z0-9-]{1,64}"


# ---- servers ----


def _servers_query() -> tuple[ServerFilters, str, int, str | None]:
    filters = ServerFilters(
        status=query_choice("status", STATUSES),
        owner=query_text("owner", 64, OWNER_PATTERN),
        tag=query_text("tag", 32, TAG_PATTERN),
        q=query_text("q", 128),
    )
    sort = query_choice("sort", SORT_CHOICES, "id") or "id"
    return filters, sort, query_int("limit", 50, 1, 200), query_text("cursor", 512)


def _servers_variant(filters: ServerFilters, sort: str, limit: int, cursor: str | None) -> str:
    return "|".join(str(part) for part in (*vars(filters).values(), sort, limit, cursor))


@bp.get("/servers")
@require_role()
def servers_index() -> Response:
    filters, sort, limit, cursor = _servers_query()

    def compute() -> bytes:
        items, next_cursor = list_servers(db(), filters, sort, limit, cursor)
        return dumps({"items": [server.to_dict() for server in items], "next_cursor": next_cursor})

    variant = _servers_variant(filters, sort, limit, cursor)
    return cached_response(
        cache.get_or_compute(redis_client(), "servers", variant, settings().cache_ttl_seconds, compute)
    )


cache.prefetch(f"{bp.name}.servers_index", "servers", lambda: _servers_variant(*_servers_query()))


@bp.post("/servers")
@require_role(*WRITERS)
def servers_create() -> Response:
    server = create_server(db(), parse(ServerCreate, json_body()))
    location = url_for(".servers_show", server_id=server.id)
    return json_response(server.to_dict(), 201, {"Location": location})


@bp.get("/servers/<int:server_id>")
@require_role()
def servers_show(server_id: int) -> Response:
    body = dumps(get_server(db(), server_id).to_dict())
    return conditional(body, cache.etag_for(body))


@bp.patch("/servers/<int:server_id>")
@require_role(*WRITERS)
def servers_update(server_id: int) -> Response:
    session = db()
    server = get_server(session, server_id)
    changes = non_null_fields(parse(ServerPatch, json_body()), nullable=frozenset({"owner"}))
    return json_response(update_server(session, server, changes).to_dict())


@bp.delete("/servers/<int:server_id>")
@require_role(*WRITERS)
def servers_delete(server_id: int) -> Response:
    session = db()
    delete_server(session, get_server(session, server_id))
    return Response(status=204)


@bp.post("/servers/<int:server_id>/check")
@require_role(*WRITERS)
def servers_check(server_id: int) -> Response:
    session = db()
    job = queue_check(session, get_server(session, server_id))
    return _accepted(job.id)


@bp.post("/checks")
@require_role(*WRITERS)
def checks_create() -> Response:
    job = queue_check_all(db())
    return _accepted(job.id)


def _accepted(job_id: str) -> Response:
    status_url = url_for(".jobs_show", job_id=job_id)
    return json_response({"job_id": job_id, "status_url": status_url}, 202, {"Location": status_url})


@bp.get("/jobs/<job_id>")
@require_role()
def jobs_show(job_id: str) -> Response:
    import re

    job = jobs.fetch(redis_client(), job_id) if re.fullmatch(JOB_ID_PATTERN, job_id) else None
    if job is None:
        raise ApiError(404, "Not Found", f"no job with id {job_id!r} (results are kept for 24 hours)")
    return json_response(jobs.describe(job))


@bp.get("/summary")
@require_role()
def summary() -> Response:
    def compute() -> bytes:
        counts = count_by_status(db())
        by_status = {status: counts.get(status, 0) for status in STATUSES}
        return dumps(
            {"total": sum(by_status.values()), "by_status": by_status, "generated_at": utcnow().isoformat()}
        )

    return cached_response(
        cache.get_or_compute(redis_client(), "summary", "", settings().cache_ttl_seconds, compute)
    )


cache.prefetch(f"{bp.name}.summary", "summary", lambda: "")


# ---- users (admin) ----


def _id_cursor(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        value = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = -1
    if not 0 < value <= MAX_DB_INT:
        raise ApiError(400, "Bad Request", "query parameter 'cursor': not a cursor returned by this endpoint")
    return value


def _next_id_cursor(rows: list[Any], limit: int) -> str | None:
    if len(rows) <= limit:
        return None
    return base64.urlsafe_b64encode(str(rows[limit - 1].id).encode()).decode().rstrip("=")


@bp.get("/users")
@require_role(Role.ADMIN.value)
def users_index() -> Response:
    only_query_parameters("limit", "cursor")
    limit = query_int("limit", 50, 1, 200)
    after = _id_cursor(query_text("cursor", 64))
    statement = select(User).order_by(User.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(User.id > after)
    rows = list(db().scalars(statement))
    return json_response(
        {"items": [user.to_dict() for user in rows[:limit]], "next_cursor": _next_id_cursor(rows, limit)}
    )


@bp.post("/users")
@require_role(Role.ADMIN.value)
def users_create() -> Response:
    user = create_user(db(), parse(UserCreate, json_body()))
    return json_response(user.to_dict(), 201, {"Location": url_for(".users_update", user_id=user.id)})


@bp.patch("/users/<int:user_id>")
@require_role(Role.ADMIN.value)
def users_update(user_id: int) -> Response:
    session = db()
    user = session.get(User, user_id) if 0 < user_id <= MAX_DB_INT else None
    if user is None:
        raise ApiError(404, "Not Found", f"no user with id {user_id}")
    changes = non_null_fields(parse(UserPatch, json_body()), nullable=frozenset({"email"}))
    return json_response(update_user(session, user, changes, g.current_user.id).to_dict())


# ---- audit log ----


@bp.get("/audit")
@require_role(*WRITERS)
def audit_index() -> Response:
    only_query_parameters("limit", "cursor", "target_type", "action")
    limit = query_int("limit", 50, 1, 200)
    before = _id_cursor(query_text("cursor", 64))
    target_type = query_text("target_type", 32, r"[a-z_]{1,32}")
    action = query_text("action", 64, r"[a-z_.]{1,64}")
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    if target_type:
        statement = statement.where(AuditEntry.target_type == target_type)
    if action:
        statement = statement.where(AuditEntry.action == action)
    rows = list(db().scalars(statement))
    reveal = g.current_user.role == Role.ADMIN.value
    return json_response(
        {
            "items": [audit.visible(entry, reveal_accounts=reveal) for entry in rows[:limit]],
            "next_cursor": _next_id_cursor(rows, limit),
        }
    )
