"""The OpenAPI 3.1 document of API v2, generated from the views' declarations and the pydantic models.

``build(app)`` walks the app's URL rules under ``/api/v2``: each view carries an ``Operation``
(``panel.api.operations.operation``), its Flask rule gives the path and method, ``require_role``
gives the roles (hence the 401/403 answers), and pydantic turns the body and answer models
(``panel.validation``, ``panel.api.schemas``) into ``components.schemas``. A route without a
declaration, a declaration whose path parameters differ from the rule, an unprotected view not
marked public, or a link to an unknown operation or parameter stops the build: the document cannot
silently miss or misdescribe a route.

The token endpoints live in ``panel.auth`` (sign-in, not resources); they are declared here, by
endpoint name, so that ``panel.auth`` does not import ``panel.api``.

``GET /api/v2/openapi.json`` serves the document, built once per app. ``services/panel/openapi-v2.json``
is the same document checked in for review; regenerate it with
``uv run --frozen panel openapi services/panel/openapi-v2.json`` (a test fails on drift).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flask import Blueprint, Flask, Response, current_app
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import CoreSchema, core_schema
from werkzeug.routing import Rule

from panel import cache
from panel.api.operations import (
    ETAG,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    RETRY_AFTER,
    Header,
    Operation,
    PathParameter,
    Reply,
    declare,
    operation,
    problem,
)
from panel.api.responses import conditional, dumps
from panel.api.schemas import OpenApiDocument, RefreshRequest, TokenRequest, Tokens

API_PREFIX = "/api/v2"
OPENAPI_VERSION = "3.1.0"

INFO = {
    "title": "Panel API",
    "version": "2",
    "description": (
        "Register servers, see their status, trigger checks, manage users, read the audit log.\n\n"
        "**Authentication**: `POST /api/v2/auth/token` with a username and password returns an access "
        "token (send `Authorization: Bearer <access_token>`) and a single-use refresh token "
        "(`POST /api/v2/auth/refresh`).\n\n"
        "**Roles**: `admin` (everything, users included), `operator` (servers and checks), `viewer` "
        "(read-only). Each operation names the roles it needs.\n\n"
        "**Errors** are RFC 9457 `application/problem+json`; a 422 lists every invalid field. What needs "
        "Redis (sign-in, token refresh, checks, job status) answers 503 with `Retry-After` while Redis "
        "is down; reads keep working.\n\n"
        "**Caching**: the server list and the summary carry an `ETag` and `X-Cache`; send the ETag back "
        "as `If-None-Match` for a 304.\n\n"
        "**Request ids**: every answer carries `X-Request-ID` (yours when it is 1-64 of "
        "`A-Za-z0-9._:-`, else a new one); it is in the logs, the audit log and the jobs you enqueue."
    ),
}
TAGS = [
    {"name": "servers", "description": "The inventory: register, list, change and remove servers"},
    {"name": "checks", "description": "Reachability checks run by the worker; poll the job they return"},
    {"name": "users", "description": "Accounts and roles (admin only)"},
    {"name": "audit", "description": "Who changed what, newest first"},
    {"name": "auth", "description": "Tokens for the Authorization header"},
    {"name": "meta", "description": "This document"},
]
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
WWW_AUTHENTICATE = Header("WWW-Authenticate", 'Always `Bearer realm="panel"`')
UNAUTHORIZED = problem(401, "Missing, invalid or expired bearer token", WWW_AUTHENTICATE)
FORBIDDEN = problem(403, "The caller's role does not allow this")
TOKEN_BODY_ERROR = problem(
    400, "The body is not a JSON object, or a field is missing, empty, too long or has control characters"
)
SIGN_IN_DOWN = problem(
    503, "Sign-in needs Redis, which is not answering; retry after Retry-After seconds", RETRY_AFTER
)

# Declarations of the /api/v2 views that live in panel.auth, by endpoint name.
ELSEWHERE: dict[str, Operation] = {
    "auth_api.token": declare(
        "createToken",
        "Exchange a username and password for tokens",
        tag="auth",
        public=True,
        description="Failed sign-ins are throttled per username and per client address (429 with "
        "Retry-After).",
        body=TokenRequest,
        replies=[
            Reply(200, "An access and a refresh token (not cacheable)", Tokens),
            TOKEN_BODY_ERROR,
            problem(401, "Wrong username or password, or the account is disabled", WWW_AUTHENTICATE),
            problem(429, "Too many failed attempts; retry after Retry-After seconds", RETRY_AFTER),
            SIGN_IN_DOWN,
        ],
    ),
    "auth_api.refresh": declare(
        "refreshToken",
        "Exchange a refresh token for new tokens",
        tag="auth",
        public=True,
        description="Each refresh token works once; using one twice revokes its whole family.",
        body=RefreshRequest,
        replies=[
            Reply(200, "A new access and refresh token (not cacheable)", Tokens),
            TOKEN_BODY_ERROR,
            problem(
                401,
                "Invalid, expired or reused refresh token, or the account changed (disabled, new password)",
                WWW_AUTHENTICATE,
            ),
            SIGN_IN_DOWN,
        ],
    ),
}


class DeclarationError(RuntimeError):
    """A route under /api/v2 that the document cannot describe truthfully."""


@dataclass(frozen=True)
class _Route:
    path: str
    method: str
    declared: Operation
    roles: frozenset[str] | None  # None: no require_role


class _WithoutFieldTitles(GenerateJsonSchema):
    """pydantic titles every property after its name ("Last Check At"): noise in a document."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        # A field left out of the answer when empty (`Absent[...] = None`) has no null default to show.
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema


def _allows_null(json_schema: Mapping[str, Any]) -> bool:
    branches = json_schema.get("anyOf", ())
    return json_schema.get("type") == "null" or any(_allows_null(branch) for branch in branches)


def build(app: Flask) -> dict[str, Any]:
    """The document for ``app``'s routes under /api/v2."""
    routes = list(_routes(app))
    operation_ids = {route.declared.operation_id: route for route in routes}
    if len(operation_ids) != len(routes):
        raise DeclarationError("two routes declare the same operationId")
    refs = _schema_refs(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs.refs, operation_ids)
    return {
        "openapi": OPENAPI_VERSION,
        "info": INFO,
        "servers": [{"url": API_PREFIX}],
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": refs.definitions, "securitySchemes": SECURITY_SCHEMES},
    }


def _routes(app: Flask) -> Iterable[_Route]:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        view = app.view_functions[rule.endpoint]
        declared: Operation | None = getattr(view, "openapi_operation", None) or ELSEWHERE.get(rule.endpoint)
        if declared is None:
            raise DeclarationError(f"{rule.rule} ({rule.endpoint}): no @operation(...) declaration")
        roles: frozenset[str] | None = getattr(view, "required_roles", None)
        if roles is None and not declared.public:
            raise DeclarationError(f"{rule.rule} ({rule.endpoint}): neither @require_role nor public=True")
        declared_path = {p.name for p in declared.parameters if isinstance(p, PathParameter)}
        if declared_path != set(rule.arguments):
            raise DeclarationError(
                f"{rule.rule} ({rule.endpoint}): path parameters {sorted(rule.arguments)} "
                f"but declared {sorted(declared_path)}"
            )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield _Route(openapi_path(rule), method.lower(), declared, roles)


def openapi_path(rule: Rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix(API_PREFIX))


@dataclass(frozen=True)
class _Schemas:
    refs: Mapping[type[BaseModel], dict[str, str]]
    definitions: dict[str, Any]


def _schema_refs(routes: list[_Route]) -> _Schemas:
    modes: dict[type[BaseModel], Literal["validation", "serialization"]] = {}
    for route in routes:
        if route.declared.body is not None:
            modes[route.declared.body] = "validation"
        for reply in (*route.declared.replies, UNAUTHORIZED):
            if reply.model is not None:
                modes.setdefault(reply.model, "serialization")
    ordered = sorted(modes.items(), key=lambda item: item[0].__name__)
    found, top = models_json_schema(
        ordered, ref_template="#/components/schemas/{model}", schema_generator=_WithoutFieldTitles
    )
    refs = {model: dict(found[(model, mode)]) for model, mode in ordered}
    definitions = dict(sorted(top.get("$defs", {}).items()))
    return _Schemas(refs, definitions)


def _operation(
    route: _Route, refs: Mapping[type[BaseModel], dict[str, str]], operations: Mapping[str, _Route]
) -> dict[str, Any]:
    declared = route.declared
    replies = list(declared.replies)
    description = declared.description
    if not declared.public:
        roles = route.roles or frozenset()
        replies.append(UNAUTHORIZED)
        if roles:
            replies.append(FORBIDDEN)
            who = "Roles: " + ", ".join(f"`{role}`" for role in sorted(roles)) + "."
        else:
            who = "Any signed-in user."
        description = f"{description}\n\n{who}".strip()
    rendered: dict[str, Any] = {
        "operationId": declared.operation_id,
        "summary": declared.summary,
        "tags": [declared.tag],
    }
    if description:
        rendered["description"] = description
    rendered["security"] = [] if declared.public else [{"bearer": []}]
    if declared.parameters:
        rendered["parameters"] = [parameter.openapi() for parameter in declared.parameters]
    if declared.body is not None:
        rendered["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[declared.body]}},
        }
    responses: dict[str, Any] = {}
    for reply in sorted(replies, key=lambda r: r.status):
        if str(reply.status) in responses:
            raise DeclarationError(f"{declared.operation_id}: two answers with status {reply.status}")
        responses[str(reply.status)] = _reply(declared.operation_id, reply, refs, operations)
    rendered["responses"] = responses
    return rendered


def _reply(
    operation_id: str,
    reply: Reply,
    refs: Mapping[type[BaseModel], dict[str, str]],
    operations: Mapping[str, _Route],
) -> dict[str, Any]:
    rendered: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        rendered["headers"] = {
            header.name: {
                "description": header.description,
                "required": header.required,
                "schema": dict(header.schema),
            }
            for header in reply.headers
        }
    if reply.model is not None:
        rendered["content"] = {reply.media_type: {"schema": refs[reply.model]}}
    if reply.links:
        rendered["links"] = {}
        for link in reply.links:
            target = operations.get(link.operation_id)
            if target is None:
                raise DeclarationError(
                    f"{operation_id}: link {link.name} to unknown operation {link.operation_id}"
                )
            known = {p.name for p in target.declared.parameters}
            if not set(link.parameters) <= known:
                raise DeclarationError(
                    f"{operation_id}: link {link.name} sets {sorted(set(link.parameters) - known)}, "
                    f"which {link.operation_id} does not take"
                )
            rendered["links"][link.name] = {
                "operationId": link.operation_id,
                "parameters": dict(link.parameters),
                "description": link.description,
            }
    return rendered


# ---- serving ----

bp = Blueprint("api_v2_openapi", __name__, url_prefix=API_PREFIX)
_SERVED = "panel.openapi"


@bp.get("/openapi.json")
@operation(
    "getOpenApiDocument",
    "This document",
    tag="meta",
    public=True,
    parameters=[IF_NONE_MATCH],
    replies=[Reply(200, "This OpenAPI 3.1 document", OpenApiDocument, headers=(ETAG,)), NOT_MODIFIED],
)
def openapi_json() -> Response:
    served = current_app.extensions.get(_SERVED)
    if served is None:  # built on first use: a few milliseconds, once per process
        body = dumps(build(current_app))
        served = current_app.extensions[_SERVED] = (body, cache.etag_for(body))
    return conditional(*served)


def rendered(document: Mapping[str, Any]) -> str:
    """The checked-in form: indented, key order kept, one newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
