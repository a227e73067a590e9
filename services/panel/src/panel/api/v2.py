"""API v2: cursor-paginated, filterable, cached lists; problem+json errors; background checks."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, g, url_for
from sqlalchemy import select

from panel import audit, cache, jobs
from panel.accounts import create_user, update_user
from panel.api import schemas as shapes
from panel.api.operations import (
    BAD_QUERY,
    BODY_ERRORS,
    CONFLICT_NAME,
    ETAG,
    IF_NONE_MATCH,
    LOCATION,
    NOT_FOUND,
    NOT_MODIFIED,
    REDIS_DOWN,
    X_CACHE,
    Link,
    PathParameter,
    QueryChoice,
    QueryInt,
    QueryText,
    Reply,
    operation,
    problem,
    query_names,
)
from panel.api.responses import cached_response, conditional, dumps, json_response
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
)

bp = Blueprint("api_v2", __name__, url_prefix="/api/v2")
WRITERS = (Role.ADMIN.value, Role.OPERATOR.value)
STATUSES = tuple(status.value for status in ServerStatus)
JOB_ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"

# ---- what the views declare for the OpenAPI document (panel.api.openapi) ----

SERVER_ID = PathParameter("server_id", "The server's `id`")
USER_ID = PathParameter("user_id", "The user's `id`")
JOB_ID = PathParameter("job_id", "The `job_id` of a 202 answer", integer=False, pattern=JOB_ID_PATTERN)
LIMIT = QueryInt("limit", 50, 1, 200, "Items per page.")
STATUS = QueryChoice("status", STATUSES, description="Only servers with this status.")
OWNER = QueryText("owner", 64, OWNER_PATTERN, "Only servers of this owner (exact).")
TAG = QueryText("tag", 32, TAG_PATTERN, "Only servers with this tag (case-insensitive).")
SEARCH = QueryText("q", 128, description="Substring of the name or address (case-insensitive).")
SORT = QueryChoice(
    "sort", SORT_CHOICES, "id", "Sort key; `-` first for descending. Keyset pagination on (key, id)."
)
SERVER_CURSOR = QueryText(
    "cursor", 512, description="`next_cursor` of the previous page, with the same filters and sort."
)
ID_CURSOR = QueryText("cursor", 64, description="`next_cursor` of the previous page.")
TARGET_TYPE = QueryText(
    "target_type", 32, r"^[a-z_]{1,32}$", "Only entries about this kind of object, e.g. `server`."
)
ACTION = QueryText("action", 64, r"^[a-z_.]{1,64}$", "Only this action, e.g. `server.update`.")
SERVER_QUERY = (STATUS, OWNER, TAG, SEARCH, SORT, LIMIT, SERVER_CURSOR)
USER_QUERY = (LIMIT, ID_CURSOR)
AUDIT_QUERY = (TARGET_TYPE, ACTION, LIMIT, ID_CURSOR)

_BY_SERVER_ID = {"server_id": "$response.body#/id"}
SERVER_LINKS = (
    Link("GetServer", "getServer", _BY_SERVER_ID, "Read the server back"),
    Link("UpdateServer", "updateServer", _BY_SERVER_ID, "Change some of its fields"),
    Link("DeleteServer", "deleteServer", _BY_SERVER_ID, "Remove it"),
    Link("CheckServer", "checkServer", _BY_SERVER_ID, "Check it now"),
)
JOB_LINKS = (
    Link("GetJob", "getJob", {"job_id": "$response.body#/job_id"}, "Poll the job (also `status_url`)"),
)
ACCEPTED = Reply(
    202,
    "Enqueued; poll `status_url` (also in `Location`)",
    shapes.Accepted,
    headers=(LOCATION,),
    links=JOB_LINKS,
)
CACHED = (ETAG, X_CACHE)
USER_LINKS = (Link("UpdateUser", "updateUser", {"user_id": "$response.body#/id"}, "Change the new user"),)


# ---- servers ----


def _servers_query() -> tuple[ServerFilters, str, int, str | None]:
    filters = ServerFilters(status=STATUS.read(), owner=OWNER.read(), tag=TAG.read(), q=SEARCH.read())
    return filters, SORT.read() or "id", LIMIT.read(), SERVER_CURSOR.read()


def _servers_variant(filters: ServerFilters, sort: str, limit: int, cursor: str | None) -> str:
    return "|".join(str(part) for part in (*vars(filters).values(), sort, limit, cursor))


@bp.get("/servers")
@operation(
    "listServers",
    "List servers: filtered, sorted, a page at a time (cached)",
    tag="servers",
    description="Answers are cached until the next change to any server; send `If-None-Match` for a 304.",
    parameters=[*SERVER_QUERY, IF_NONE_MATCH],
    replies=[Reply(200, "A page of servers", shapes.ServerPage, headers=CACHED), NOT_MODIFIED, BAD_QUERY],
)
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
@operation(
    "createServer",
    "Register a server",
    tag="servers",
    description="Its status is `unknown` until its first check (periodic, or `POST /servers/{id}/check`).",
    body=ServerCreate,
    replies=[
        Reply(
            201, "Registered; `Location` is its URL", shapes.Server, headers=(LOCATION,), links=SERVER_LINKS
        ),
        CONFLICT_NAME,
        BODY_ERRORS,
    ],
)
@require_role(*WRITERS)
def servers_create() -> Response:
    server = create_server(db(), parse(ServerCreate, json_body()))
    location = url_for(".servers_show", server_id=server.id)
    return json_response(server.to_dict(), 201, {"Location": location})


@bp.get("/servers/<int:server_id>")
@operation(
    "getServer",
    "One server",
    tag="servers",
    parameters=[SERVER_ID, IF_NONE_MATCH],
    replies=[Reply(200, "The server", shapes.Server, headers=(ETAG,)), NOT_MODIFIED, NOT_FOUND],
)
@require_role()
def servers_show(server_id: int) -> Response:
    body = dumps(get_server(db(), server_id).to_dict())
    return conditional(body, cache.etag_for(body))


@bp.patch("/servers/<int:server_id>")
@operation(
    "updateServer",
    "Change some fields of a server",
    tag="servers",
    description="Fields left out keep their value; `owner` may be set to null, the others may not.",
    parameters=[SERVER_ID],
    body=ServerPatch,
    replies=[Reply(200, "The server as changed", shapes.Server), NOT_FOUND, CONFLICT_NAME, BODY_ERRORS],
)
@require_role(*WRITERS)
def servers_update(server_id: int) -> Response:
    session = db()
    server = get_server(session, server_id)
    changes = non_null_fields(parse(ServerPatch, json_body()), nullable=frozenset({"owner"}))
    return json_response(update_server(session, server, changes).to_dict())


@bp.delete("/servers/<int:server_id>")
@operation(
    "deleteServer",
    "Remove a server and its check history",
    tag="servers",
    parameters=[SERVER_ID],
    replies=[Reply(204, "Removed (no body)"), NOT_FOUND],
)
@require_role(*WRITERS)
def servers_delete(server_id: int) -> Response:
    session = db()
    delete_server(session, get_server(session, server_id))
    return Response(status=204)


@bp.post("/servers/<int:server_id>/check")
@operation(
    "checkServer",
    "Check one server now, in the background",
    tag="checks",
    description="Runs on the worker's high-priority queue, ahead of check-all rounds. The job's result is "
    "the check result, also stored on the server and in its history.",
    parameters=[SERVER_ID],
    replies=[ACCEPTED, NOT_FOUND, REDIS_DOWN],
)
@require_role(*WRITERS)
def servers_check(server_id: int) -> Response:
    session = db()
    job = queue_check(session, get_server(session, server_id))
    return _accepted(job.id)


@bp.post("/checks")
@operation(
    "checkAll",
    "Check every server, in the background",
    tag="checks",
    description="Starts a round on the worker; the job is `started` with live progress while the round runs. "
    "A round never stacks on another: if one is running, the job finishes with `state: skipped`.",
    replies=[ACCEPTED, REDIS_DOWN],
)
@require_role(*WRITERS)
def checks_create() -> Response:
    job = queue_check_all(db())
    return _accepted(job.id)


def _accepted(job_id: str) -> Response:
    status_url = url_for(".jobs_show", job_id=job_id)
    return json_response({"job_id": job_id, "status_url": status_url}, 202, {"Location": status_url})


@bp.get("/jobs/<job_id>")
@operation(
    "getJob",
    "Status and result of a background job",
    tag="checks",
    parameters=[JOB_ID],
    replies=[
        Reply(200, "The job", shapes.Job),
        problem(404, "No such job (results are kept for 24 hours)"),
        REDIS_DOWN,
    ],
)
@require_role()
def jobs_show(job_id: str) -> Response:
    import re

    job = jobs.fetch(redis_client(), job_id) if re.fullmatch(JOB_ID_PATTERN, job_id) else None
    if job is None:
        raise ApiError(404, "Not Found", f"no job with id {job_id!r} (results are kept for 24 hours)")
    return json_response(jobs.describe(job))


@bp.get("/summary")
@operation(
    "getSummary",
    "Server counts by status (cached)",
    tag="servers",
    parameters=[IF_NONE_MATCH],
    replies=[Reply(200, "The counts", shapes.Summary, headers=CACHED), NOT_MODIFIED],
)
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
@operation(
    "listUsers",
    "List users, by id",
    tag="users",
    parameters=USER_QUERY,
    replies=[Reply(200, "A page of users", shapes.UserPage), BAD_QUERY],
)
@require_role(Role.ADMIN.value)
def users_index() -> Response:
    only_query_parameters(*query_names(USER_QUERY))
    limit = LIMIT.read()
    after = _id_cursor(ID_CURSOR.read())
    statement = select(User).order_by(User.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(User.id > after)
    rows = list(db().scalars(statement))
    return json_response(
        {"items": [user.to_dict() for user in rows[:limit]], "next_cursor": _next_id_cursor(rows, limit)}
    )


@bp.post("/users")
@operation(
    "createUser",
    "Create a user",
    tag="users",
    description="The password must pass the policy: 12-256 characters, not common, breached or easy to "
    "guess, not containing the username (a 422 says which rule failed).",
    body=UserCreate,
    replies=[
        Reply(201, "Created; `Location` is its URL", shapes.User, headers=(LOCATION,), links=USER_LINKS),
        problem(409, "Another user has this username or email"),
        BODY_ERRORS,
    ],
)
@require_role(Role.ADMIN.value)
def users_create() -> Response:
    user = create_user(db(), parse(UserCreate, json_body()))
    return json_response(user.to_dict(), 201, {"Location": url_for(".users_update", user_id=user.id)})


@bp.patch("/users/<int:user_id>")
@operation(
    "updateUser",
    "Change a user's role, status, password or email",
    tag="users",
    description="A role change or a disabled account counts from the caller's next request. A new password "
    "or disabling signs the user out everywhere.",
    parameters=[USER_ID],
    body=UserPatch,
    replies=[
        Reply(200, "The user as changed", shapes.User),
        NOT_FOUND,
        problem(409, "Another user has this email, or an admin tried to demote or disable themselves"),
        BODY_ERRORS,
    ],
)
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
@operation(
    "listAudit",
    "The audit log, newest first",
    tag="audit",
    description="Operators see every entry, but the changes of account entries (users, sign-ins) are "
    "replaced by `redacted: true`; admins see them.",
    parameters=AUDIT_QUERY,
    replies=[Reply(200, "A page of entries", shapes.AuditPage), BAD_QUERY],
)
@require_role(*WRITERS)
def audit_index() -> Response:
    only_query_parameters(*query_names(AUDIT_QUERY))
    limit = LIMIT.read()
    before = _id_cursor(ID_CURSOR.read())
    target_type = TARGET_TYPE.read()
    action = ACTION.read()
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
