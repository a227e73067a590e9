"""The OpenAPI 3.0 document of API v2, written by hand to match the views exactly.

The test suite runs schemathesis against it, so a drift between this and the views fails CI.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from panel.api import json_response
from panel.validation import ADDRESS_PATTERN, NAME_PATTERN, OWNER_PATTERN, TAG_PATTERN, USERNAME_PATTERN

bp = Blueprint("api_v2_openapi", __name__, url_prefix="/api/v2")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _json(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema_name)}}}


AUTH_ERRORS = {
    "401": _problem("Missing or invalid bearer token"),
    "403": _problem("The user's role does not allow this"),
}
BODY_ERRORS = {
    "400": _problem("The body is not a JSON object"),
    "415": _problem("The body is not JSON"),
    "422": _problem("A field is invalid; `errors` lists each one"),
}
NOT_FOUND = {"404": _problem("No such resource")}
BAD_QUERY = {"400": _problem("A query parameter is invalid")}
ETAG_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "Send back as If-None-Match"},
    "X-Cache": {"schema": {"type": "string", "enum": ["hit", "miss"]}},
}
LIST_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "maxLength": 512},
        "description": "next_cursor of the previous page",
    },
]
SERVER_ID = {
    "name": "server_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}
USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "Server": {
        "type": "object",
        "required": [
            "id",
            "name",
            "address",
            "port",
            "protocol",
            "tags",
            "owner",
            "status",
            "last_check_at",
            "last_check_result",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "port": {"type": "integer"},
            "protocol": {"type": "string", "enum": ["tcp", "http", "https"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": ["unknown", "up", "down"]},
            "last_check_at": {"type": "string", "format": "date-time", "nullable": True},
            "last_check_result": {"type": "object", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "ServerCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "address", "port"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "address": {"type": "string", "pattern": ADDRESS_PATTERN},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "protocol": {"type": "string", "enum": ["tcp", "http", "https"], "default": "tcp"},
            "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "pattern": TAG_PATTERN}},
            "owner": {"type": "string", "pattern": OWNER_PATTERN, "nullable": True},
        },
    },
    "ServerPatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "address": {"type": "string", "pattern": ADDRESS_PATTERN},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "protocol": {"type": "string", "enum": ["tcp", "http", "https"]},
            "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "pattern": TAG_PATTERN}},
            "owner": {"type": "string", "pattern": OWNER_PATTERN, "nullable": True},
        },
    },
    "ServerPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Server")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "Summary": {
        "type": "object",
        "required": ["total", "by_status"],
        "properties": {
            "total": {"type": "integer"},
            "by_status": {
                "type": "object",
                "required": ["unknown", "up", "down"],
                "additionalProperties": {"type": "integer"},
            },
            "generated_at": {"type": "string", "format": "date-time"},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["job_id", "status_url"],
        "properties": {"job_id": {"type": "string"}, "status_url": {"type": "string"}},
    },
    "Job": {
        "type": "object",
        "required": ["id", "status", "result"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "started", "finished", "failed"]},
            "kind": {"type": "string", "nullable": True},
            "result": {"nullable": True},
            "enqueued_at": {"type": "string", "nullable": True},
            "ended_at": {"type": "string", "nullable": True},
            "request_id": {"type": "string", "nullable": True},
        },
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "email", "role", "is_active", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "email": {"type": "string", "nullable": True},
            "role": {"type": "string", "enum": ["admin", "operator", "viewer"]},
            "is_active": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time", "nullable": True},
        },
    },
    "UserCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "pattern": USERNAME_PATTERN},
            "password": {"type": "string", "minLength": 12, "maxLength": 256},
            "role": {"type": "string", "enum": ["admin", "operator", "viewer"], "default": "viewer"},
            "email": {"type": "string", "format": "email", "nullable": True},
        },
    },
    "UserPatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "role": {"type": "string", "enum": ["admin", "operator", "viewer"]},
            "is_active": {"type": "boolean"},
            "password": {"type": "string", "minLength": 12, "maxLength": 256},
            "email": {"type": "string", "format": "email", "nullable": True},
        },
    },
    "UserPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("User")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "created_at", "actor", "action", "target_type", "target_id", "changes"],
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string", "nullable": True},
            "action": {"type": "string"},
            "target_type": {"type": "string"},
            "target_id": {"type": "string", "nullable": True},
            "changes": {"type": "object", "nullable": True},
            "request_id": {"type": "string", "nullable": True},
        },
    },
    "AuditPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("AuditEntry")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    },
    "RefreshRequest": {
        "type": "object",
        "required": ["refresh_token"],
        "properties": {"refresh_token": {"type": "string"}},
    },
    "Tokens": {
        "type": "object",
        "required": ["access_token", "refresh_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
        },
    },
}

SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": SECURED, "responses": {**responses, **AUTH_ERRORS}, **extra}


PATHS: dict[str, Any] = {
    "/servers": {
        "get": _op(
            "List servers (cursor pagination, cached)",
            {
                "200": _json("A page of servers", _ref("ServerPage"), ETAG_HEADERS),
                "304": {"description": "Not modified (If-None-Match matched)"},
                **BAD_QUERY,
            },
            operationId="listServers",
            parameters=[
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["unknown", "up", "down"]},
                },
                {"name": "owner", "in": "query", "schema": {"type": "string", "pattern": OWNER_PATTERN}},
                {"name": "tag", "in": "query", "schema": {"type": "string", "pattern": TAG_PATTERN}},
                {
                    "name": "q",
                    "in": "query",
                    "schema": {"type": "string", "maxLength": 128},
                    "description": "Substring of the name or address (case-insensitive)",
                },
                {
                    "name": "sort",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": [
                            "id",
                            "-id",
                            "name",
                            "-name",
                            "created_at",
                            "-created_at",
                            "status",
                            "-status",
                        ],
                    },
                },
                *LIST_PARAMS,
                IF_NONE_MATCH,
            ],
        ),
        "post": _op(
            "Register a server",
            {"201": _json("Created", _ref("Server")), "409": _problem("The name is taken"), **BODY_ERRORS},
            operationId="createServer",
            requestBody=_body("ServerCreate"),
        ),
    },
    "/servers/{server_id}": {
        "parameters": [SERVER_ID],
        "get": _op(
            "One server",
            {"200": _json("The server", _ref("Server")), "304": {"description": "Not modified"}, **NOT_FOUND},
            operationId="getServer",
            parameters=[IF_NONE_MATCH],
        ),
        "patch": _op(
            "Change some fields of a server",
            {
                "200": _json("Updated", _ref("Server")),
                "409": _problem("The name is taken"),
                **NOT_FOUND,
                **BODY_ERRORS,
            },
            operationId="updateServer",
            requestBody=_body("ServerPatch"),
        ),
        "delete": _op(
            "Remove a server", {"204": {"description": "Deleted"}, **NOT_FOUND}, operationId="deleteServer"
        ),
    },
    "/servers/{server_id}/check": {
        "parameters": [SERVER_ID],
        "post": _op(
            "Check one server in the background",
            {"202": _json("Enqueued; poll status_url", _ref("Accepted")), **NOT_FOUND},
            operationId="checkServer",
        ),
    },
    "/checks": {
        "post": _op(
            "Check every server in the background",
            {"202": _json("Enqueued; poll status_url", _ref("Accepted"))},
            operationId="checkAll",
        ),
    },
    "/jobs/{job_id}": {
        "get": _op(
            "Status and result of a background job",
            {"200": _json("The job", _ref("Job")), **NOT_FOUND},
            operationId="getJob",
            parameters=[{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        ),
    },
    "/summary": {
        "get": _op(
            "Server counts by status (cached)",
            {"200": _json("Counts", _ref("Summary"), ETAG_HEADERS), "304": {"description": "Not modified"}},
            operationId="getSummary",
            parameters=[IF_NONE_MATCH],
        ),
    },
    "/users": {
        "get": _op(
            "List users (admin)",
            {"200": _json("A page of users", _ref("UserPage")), **BAD_QUERY},
            operationId="listUsers",
            parameters=LIST_PARAMS,
        ),
        "post": _op(
            "Create a user (admin)",
            {
                "201": _json("Created", _ref("User")),
                "409": _problem("Username or email taken"),
                **BODY_ERRORS,
            },
            operationId="createUser",
            requestBody=_body("UserCreate"),
        ),
    },
    "/users/{user_id}": {
        "parameters": [USER_ID],
        "patch": _op(
            "Change a user's role, status, password or email (admin)",
            {"200": _json("Updated", _ref("User")), "409": _problem("Conflict"), **NOT_FOUND, **BODY_ERRORS},
            operationId="updateUser",
            requestBody=_body("UserPatch"),
        ),
    },
    "/audit": {
        "get": _op(
            "The audit log, newest first (admin, operator)",
            {"200": _json("A page of entries", _ref("AuditPage")), **BAD_QUERY},
            operationId="listAudit",
            parameters=[
                {
                    "name": "target_type",
                    "in": "query",
                    "schema": {"type": "string", "pattern": "^[a-z_]{1,32}$"},
                },
                {"name": "action", "in": "query", "schema": {"type": "string", "pattern": "^[a-z_.]{1,64}$"}},
                *LIST_PARAMS,
            ],
        ),
    },
    "/auth/token": {
        "post": {
            "summary": "Exchange username and password for tokens",
            "operationId": "createToken",
            "security": [],
            "requestBody": _body("TokenRequest"),
            "responses": {
                "200": _json("Tokens", _ref("Tokens")),
                "400": _problem("Malformed body"),
                "401": _problem("Wrong credentials"),
                "415": _problem("The body is not JSON"),
                "422": _problem("A field is invalid"),
                "429": _problem("Too many attempts"),
            },
        },
    },
    "/auth/refresh": {
        "post": {
            "summary": "Exchange a refresh token for new tokens",
            "operationId": "refreshToken",
            "security": [],
            "requestBody": _body("RefreshRequest"),
            "responses": {
                "200": _json("Tokens", _ref("Tokens")),
                "400": _problem("Malformed body"),
                "401": _problem("Invalid or expired refresh token"),
                "415": _problem("The body is not JSON"),
                "422": _problem("A field is invalid"),
            },
        },
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Panel API",
            "version": "2",
            "description": "Register servers, see their status, trigger checks. Errors are RFC 9457 "
            "problem+json. Authenticate with POST /api/v2/auth/token, then send "
            "`Authorization: Bearer <access_token>`.",
        },
        "servers": [{"url": "/api/v2"}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(document())
