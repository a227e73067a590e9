"""Keyset (cursor) pagination over servers: ``WHERE (sort_column, id) > (last value, last id)``.

Every sort path has a matching ``(column, id)`` index, so each page is an index range scan no
matter how deep the client pages (offsets would rescan everything before the page).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, tuple_
from sqlalchemy.orm import Session

from panel.errors import ApiError
from panel.models import Server, ServerTag, iso

SORT_COLUMNS: dict[str, Any] = {
    "id": Server.id,
    "name": Server.name,
    "created_at": Server.created_at,
    "status": Server.status,
}
SORT_CHOICES = tuple(choice for name in SORT_COLUMNS for choice in (name, f"-{name}"))


@dataclass(frozen=True)
class ServerFilters:
    status: str | None = None
    owner: str | None = None
    tag: str | None = None
    q: str | None = None


def _conditions(filters: ServerFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(Server.status == filters.status)
    if filters.owner:
        conditions.append(Server.owner == filters.owner)
    if filters.tag:
        tagged = select(ServerTag.server_id).where(ServerTag.tag == filters.tag.lower())
        conditions.append(Server.id.in_(tagged))
    if filters.q:
        needle = filters.q.lower()
        conditions.append(
            or_(
                func.lower(Server.name).contains(needle, autoescape=True),
                func.lower(Server.address).contains(needle, autoescape=True),
            )
        )
    return conditions


def encode_cursor(sort: str, server: Server) -> str:
    name = sort.lstrip("-")
    value = getattr(server, name)
    if isinstance(value, datetime):
        value = iso(value)
    raw = json.dumps([sort, value, server.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, token: str) -> tuple[Any, int]:
    """(last sort value, last id) from a cursor; 400 when it is malformed or from another sort."""
    invalid = ApiError(400, "Bad Request", "query parameter 'cursor': not a cursor returned by this endpoint")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor_sort, value, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise invalid from None
    if cursor_sort != sort:
        raise ApiError(400, "Bad Request", "query parameter 'cursor': it was issued for another sort order")
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id < 2**31:
        raise invalid
    name = sort.lstrip("-")
    if name == "id":
        return last_id, last_id
    if not isinstance(value, str) or "\x00" in value:
        raise invalid
    if name == "created_at":
        try:
            return datetime.fromisoformat(value), last_id
        except ValueError:
            raise invalid from None
    return value, last_id


def servers_query(filters: ServerFilters, sort: str, limit: int, cursor: str | None) -> Select[tuple[Server]]:
    """The SELECT for one page (``limit + 1`` rows: the extra row says whether a next page exists)."""
    descending = sort.startswith("-")
    column = SORT_COLUMNS[sort.lstrip("-")]
    statement = select(Server).where(*_conditions(filters))
    if cursor:
        value, last_id = decode_cursor(sort, cursor)
        if column is Server.id:
            statement = statement.where(Server.id < last_id if descending else Server.id > last_id)
        else:
            key, after = tuple_(column, Server.id), tuple_(value, last_id)
            statement = statement.where(key < after if descending else key > after)
    if column is Server.id:
        order = [Server.id.desc() if descending else Server.id.asc()]
    else:
        order = [column.desc(), Server.id.desc()] if descending else [column.asc(), Server.id.asc()]
    return statement.order_by(*order).limit(limit + 1)


def list_servers(
    session: Session, filters: ServerFilters, sort: str, limit: int, cursor: str | None
) -> tuple[list[Server], str | None]:
    rows = list(session.scalars(servers_query(filters, sort, limit, cursor)))
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(sort, page[-1])


def count_by_status(session: Session) -> dict[str, int]:
    return {
        status: count
        for status, count in session.execute(
            select(Server.status, func.count()).group_by(Server.status)
        ).all()
    }
