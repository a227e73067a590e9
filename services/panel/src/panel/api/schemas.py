"""The shapes API v2 answers with, as pydantic models: the source of the OpenAPI document's schemas.

The views do not build their answers through these models (``to_dict()`` and ``dumps`` are faster,
and the cached list is served as stored bytes); the models describe them. Two tests keep both
sides equal: ``tests/panel/test_openapi_document.py`` compares each model's fields with what the
views produce, and schemathesis validates every answer of the running app against the document.

Request bodies are the models the views validate with (``panel.validation``); the token
endpoints' bodies are read by hand in ``panel.auth.api``, so they are described here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from panel.auth import login

ServerStatusName = Literal["unknown", "up", "down"]
ProtocolName = Literal["tcp", "http", "https"]
RoleName = Literal["admin", "operator", "viewer"]
JobStatusName = Literal["queued", "started", "finished", "failed"]
# A field the answer leaves out when it has no value (it is never null): `Absent[str] = None`.
T = TypeVar("T")
Absent: TypeAlias = T | SkipJsonSchema[None]
# What panel.auth.api refuses with a 400 besides length: control characters (Unicode category Cc).
NoControlCharacters = r"^[^\x00-\x1f\x7f-\x9f]+$"

SERVER_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "name": "web-01",
    "address": "10.0.3.17",
    "port": 443,
    "protocol": "https",
    "tags": ["prod", "eu-west"],
    "owner": "platform-team",
    "status": "up",
    "last_check_at": "2026-12-02T09:15:04.512331+00:00",
    "last_check_result": {
        "up": True,
        "latency_ms": 12.4,
        "checked_at": "2026-12-02T09:15:04.512331+00:00",
        "http_status": 200,
    },
    "created_at": "2026-11-20T14:02:11.093812+00:00",
    "updated_at": "2026-12-02T09:15:04.530129+00:00",
}
USER_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "username": "alice",
    "email": "alice@example.com",
    "role": "operator",
    "is_active": True,
    "created_at": "2026-11-20T14:02:11.093812+00:00",
}


class ProblemField(BaseModel):
    """One invalid field of a 422 answer."""

    field: str = Field(
        description="Dotted path of the field in the body, e.g. `tags.0`; `body` for the whole"
    )
    message: str = Field(description="What is wrong and what would be accepted")


class Problem(BaseModel):
    """RFC 9457 problem details: every error of /api/* (media type `application/problem+json`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "port: Input should be less than or equal to 65535",
                    "instance": "/api/v2/servers",
                    "errors": [{"field": "port", "message": "Input should be less than or equal to 65535"}],
                }
            ]
        }
    )

    type: str = Field(description="Always `about:blank`: the status code says what kind of problem it is")
    title: str = Field(description="The status code's reason phrase")
    status: int = Field(description="The HTTP status code, repeated")
    detail: Absent[str] = Field(None, description="What went wrong with this request and how to fix it")
    instance: Absent[str] = Field(None, description="The request path")
    errors: Absent[list[ProblemField]] = Field(None, description="422 only: each invalid field")


class Server(BaseModel):
    """A registered server and the result of its last check."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERVER_EXAMPLE]})

    id: int = Field(description="Assigned by the panel; use it in /servers/{server_id}")
    name: str = Field(description="Unique name")
    address: str = Field(description="Hostname, IPv4 or IPv6 address")
    port: int
    protocol: ProtocolName = Field(
        description="`tcp` connects; `http`/`https` GET / (any answer below 500 is up)"
    )
    tags: list[str] = Field(description="Lower-case labels")
    owner: str | None = Field(description="Team or person responsible")
    status: ServerStatusName = Field(description="`unknown` until the first check")
    last_check_at: datetime | None
    last_check_result: dict[str, Any] | None = Field(
        description="`up`, `latency_ms`, `checked_at`, `error` when down, and protocol details such as "
        "`http_status`"
    )
    created_at: datetime
    updated_at: datetime


class ServerPage(BaseModel):
    """One page of servers; pass `next_cursor` as `cursor` (with the same filters and sort) for the next."""

    items: list[Server]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class StatusCounts(BaseModel):
    """Servers per status, zero included."""

    unknown: int
    up: int
    down: int


class Summary(BaseModel):
    """How many servers there are, by status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 120,
                    "by_status": {"unknown": 3, "up": 112, "down": 5},
                    "generated_at": "2026-12-02T09:15:06.001204+00:00",
                }
            ]
        }
    )

    total: int
    by_status: StatusCounts
    generated_at: datetime = Field(description="When the counts were taken (answers are cached)")


class Accepted(BaseModel):
    """A background job was enqueued; poll `status_url` (also sent as `Location`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "0f4c8d2e-6b1a-4f0e-9a51-3c2d7e8b9a10",
                    "status_url": "/api/v2/jobs/0f4c8d2e-6b1a-4f0e-9a51-3c2d7e8b9a10",
                }
            ]
        }
    )

    job_id: str
    status_url: str = Field(description="GET it for the job's status and result")


class CheckJobResult(BaseModel, extra="allow"):
    """The result of a "Check now" job: the server's new check result."""

    server_id: int
    up: bool | None = Field(description="null when the server was deleted before the check ran")
    latency_ms: Absent[float | None] = None
    checked_at: Absent[datetime] = None
    error: Absent[str] = Field(None, description="Why the server is down (or was not checked)")


class RoundProgress(BaseModel, extra="allow"):
    """A check-all job's round, live while it runs."""

    state: str = Field(description="`running`, `finished`, `interrupted` or `skipped`")
    trigger: str | None = Field(None, description="`manual` or `periodic`")
    total: Absent[int] = Field(None, description="Servers in the round")
    done: Absent[int] = Field(None, description="Servers checked so far")
    up: Absent[int] = None
    down: Absent[int] = None
    started_at: Absent[str] = None
    finished_at: Absent[str] = None
    error: Absent[str] = None
    running_round: Absent[str] = Field(None, description="`skipped` only: the round that was already running")


class JobFailure(BaseModel):
    """A failed job's result."""

    error: str = Field(description="The last line of the job's error")


class Job(BaseModel):
    """A background job; results are kept for 24 hours."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0f4c8d2e-6b1a-4f0e-9a51-3c2d7e8b9a10",
                    "status": "started",
                    "kind": "check_all",
                    "result": {
                        "state": "running",
                        "trigger": "manual",
                        "total": 1200,
                        "done": 640,
                        "up": 610,
                        "down": 30,
                        "started_at": "2026-12-02T09:15:00.114021+00:00",
                    },
                    "enqueued_at": "2026-12-02T09:14:59.981245+00:00",
                    "ended_at": None,
                    "request_id": "5f2b8c1d9e0a4b3c",
                }
            ]
        }
    )

    id: str
    status: JobStatusName = Field(description="A check-all job is `started` while its round runs")
    kind: str | None = Field(description="`check_server`, `check_all` or `periodic_check_all`")
    result: CheckJobResult | RoundProgress | JobFailure | None = Field(
        description="null until the job ends (a check-all job shows its round's progress while it runs)"
    )
    enqueued_at: str | None
    ended_at: str | None
    request_id: str | None = Field(description="The X-Request-ID of the request that enqueued it")


class User(BaseModel):
    """A panel account (never its password hash)."""

    model_config = ConfigDict(json_schema_extra={"examples": [USER_EXAMPLE]})

    id: int
    username: str
    email: str | None
    role: RoleName = Field(description="`admin` everything; `operator` servers and checks; `viewer` reads")
    is_active: bool = Field(description="A disabled account can neither sign in nor use its tokens")
    created_at: datetime | None


class UserPage(BaseModel):
    """One page of users, by id."""

    items: list[User]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class AuditEntry(BaseModel):
    """One recorded change or sign-in, with who made it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 311,
                    "created_at": "2026-12-02T09:10:42.771902+00:00",
                    "actor": "alice",
                    "action": "server.update",
                    "target_type": "server",
                    "target_id": "42",
                    "changes": {"port": {"old": 80, "new": 443}},
                    "request_id": "5f2b8c1d9e0a4b3c",
                }
            ]
        }
    )

    id: int
    created_at: datetime
    actor: str | None = Field(description="Username; null for the system (e.g. periodic checks)")
    action: str = Field(description="e.g. `server.create`, `server.update`, `user.update`, `auth.login`")
    target_type: str
    target_id: str | None
    changes: dict[str, Any] | None = Field(description="Field: {old, new}; null when redacted")
    request_id: str | None
    redacted: Absent[bool] = Field(
        None,
        description="Present (true) when an operator reads an account entry: its changes are hidden, "
        "admins see them",
    )


class AuditPage(BaseModel):
    """One page of the audit log, newest first."""

    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class TokenRequest(BaseModel):
    """Username and password of a panel account."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse battery staple"}]}
    )

    username: Annotated[
        str,
        StringConstraints(min_length=1, max_length=login.MAX_USERNAME_LENGTH, pattern=NoControlCharacters),
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=login.MAX_PASSWORD_LENGTH)]


class RefreshRequest(BaseModel):
    """A refresh token from an earlier token answer; each can be used once."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Tokens(BaseModel):
    """An access token for `Authorization: Bearer`, and a refresh token for POST /auth/refresh."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJl",
                    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXAiOiJyZWZyZXNoIn0.c2ln",
                    "token_type": "Bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str
    refresh_token: str = Field(description="Single use: refreshing returns a new one")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the access token expires")


class OpenApiDocument(BaseModel, extra="allow"):
    """An OpenAPI 3.1 document (this one)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
