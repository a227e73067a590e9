"""API v1: the legacy shape (plain arrays and objects), kept for old clients and marked deprecated.

Every response carries ``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594) and a ``Link`` to the
successor, so clients can find out that, when, and where to move.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select

from panel.api.responses import json_response
from panel.auth import require_role
from panel.extensions import db
from panel.inventory import create_server, delete_server, get_server, update_server
from panel.models import Role, Server
from panel.validation import ServerCreate, json_body, parse

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
WRITERS = (Role.ADMIN.value, Role.OPERATOR.value)
DEPRECATED_AT = "@1767225600"  # 2026-01-01T00:00:00Z
SUNSET = "Thu, 01 Jul 2027 00:00:00 GMT"
LEGACY_FIELDS = ("id", "name", "address", "port", "protocol", "tags", "owner", "status", "last_check_at")


def legacy(server: Server) -> dict[str, Any]:
    full = server.to_dict()
    return {field: full[field] for field in LEGACY_FIELDS}


@bp.after_request
def _deprecation_headers(response: Response) -> Response:
    response.headers["Deprecation"] = DEPRECATED_AT
    response.headers["Sunset"] = SUNSET
    response.headers["Link"] = (
        '</api/v2/servers>; rel="successor-version", </api/v2/openapi.json>; rel="service-desc"'
    )
    return response


@bp.get("/servers")
@require_role()
def servers_index() -> Response:
    servers = db().scalars(select(Server).order_by(Server.id))
    return json_response([legacy(server) for server in servers])


@bp.post("/servers")
@require_role(*WRITERS)
def servers_create() -> Response:
    server = create_server(db(), parse(ServerCreate, json_body()))
    return json_response(legacy(server), 201, {"Location": f"/api/v1/servers/{server.id}"})


@bp.get("/servers/<int:server_id>")
@require_role()
def servers_show(server_id: int) -> Response:
    return json_response(legacy(get_server(db(), server_id)))


@bp.put("/servers/<int:server_id>")
@require_role(*WRITERS)
def servers_replace(server_id: int) -> Response:
    """Full replacement: fields left out go back to their defaults, as PUT means."""
    session = db()
    server = get_server(session, server_id)
    data = parse(ServerCreate, json_body())
    return json_response(legacy(update_server(session, server, data.model_dump())))


@bp.delete("/servers/<int:server_id>")
@require_role(*WRITERS)
def servers_delete(server_id: int) -> Response:
    session = db()
    delete_server(session, get_server(session, server_id))
    return Response(status=204)
