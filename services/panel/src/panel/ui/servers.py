"""Servers: the list (search, filters, sort, keyset pages, bulk checks), forms, and check triggers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from panel import cache
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
from panel.listing import SORT_CHOICES, ServerFilters, count_by_status, encode_cursor, list_servers
from panel.models import Server, ServerStatus
from panel.ui import forms
from panel.ui.render import WRITERS, back_to, bp, is_htmx, page
from panel.validation import MAX_DB_INT, OWNER_PATTERN, TAG_PATTERN, ServerCreate, query_choice, query_text

STATUSES = tuple(status.value for status in ServerStatus)
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
SORT_LABELS = {
    "name": "Name (A-Z)",
    "-name": "Name (Z-A)",
    "status": "Status (down first)",
    "-status": "Status (up first)",
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "id": "Id",
}
MAX_BULK = 200


@dataclass(frozen=True)
class ListQuery:
    filters: ServerFilters
    sort: str
    limit: int
    after: str | None
    before: str | None

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for a link to this list with ``changes`` (empty values dropped)."""
        values: dict[str, Any] = {**vars(self.filters), "sort": self.sort, "limit": self.limit}
        values.update(changes)
        defaults = {"sort": "name", "limit": DEFAULT_PAGE_SIZE}
        return {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}


def _flip(sort: str) -> str:
    return sort[1:] if sort.startswith("-") else f"-{sort}"


def _list_query() -> ListQuery:
    limit_text = request.args.get("limit", "")
    limit = int(limit_text) if limit_text.isdigit() and int(limit_text) in PAGE_SIZES else DEFAULT_PAGE_SIZE
    return ListQuery(
        filters=ServerFilters(
            status=query_choice("status", STATUSES),
            owner=query_text("owner", 64, OWNER_PATTERN),
            tag=query_text("tag", 32, TAG_PATTERN),
            q=query_text("q", 128),
        ),
        sort=query_choice("sort", SORT_CHOICES, "name") or "name",
        limit=limit,
        after=query_text("after", 512),
        before=query_text("before", 512),
    )


def _page(query: ListQuery) -> tuple[list[Server], str | None, str | None]:
    """(servers, cursor of the next page, cursor of the previous page) for the list query.

    Going back is the same keyset walk in the opposite order from the page's first row, reversed.
    """
    session = db()
    if query.before:
        rows, more = list_servers(session, query.filters, _flip(query.sort), query.limit, query.before)
        rows.reverse()
        previous = encode_cursor(_flip(query.sort), rows[0]) if more and rows else None
        following = encode_cursor(query.sort, rows[-1]) if rows else None
        return rows, following, previous
    rows, following = list_servers(session, query.filters, query.sort, query.limit, query.after)
    previous = encode_cursor(_flip(query.sort), rows[0]) if query.after and rows else None
    return rows, following, previous


def _counts() -> dict[str, int]:
    def compute() -> bytes:
        return json.dumps(count_by_status(db())).encode()

    cached = cache.get_or_compute(redis_client(), "ui-summary", "", settings().cache_ttl_seconds, compute)
    counts = json.loads(cached.body)
    return {status: counts.get(status, 0) for status in STATUSES}


def _bad_query(exc: ApiError) -> ResponseReturnValue:
    flash(f"{exc.detail}. The list shows every server instead.", "error")
    return redirect(url_for("ui.servers"))


@bp.get("/")
@require_role()
def servers() -> ResponseReturnValue:
    try:
        query = _list_query()
        rows, following, previous = _page(query)
    except ApiError as exc:
        return _bad_query(exc)
    counts = _counts()
    return page(
        "ui/servers.html",
        servers=rows,
        query=query,
        next_cursor=following,
        previous_cursor=previous,
        counts=counts,
        total=sum(counts.values()),
        statuses=STATUSES,
        sort_labels=SORT_LABELS,
        page_sizes=PAGE_SIZES,
        filtered=any(vars(query.filters).values()),
        return_to=request.full_path.rstrip("?"),
    )


@bp.get("/servers")
@require_role()
def servers_alias() -> ResponseReturnValue:
    query: dict[str, Any] = request.args.to_dict()
    return redirect(url_for("ui.servers", **query))


def _ids_arg(raw: str | None) -> list[int]:
    ids: list[int] = []
    for part in (raw or "").split(",")[:MAX_BULK]:
        if part.isascii() and part.isdigit() and 0 < int(part) <= MAX_DB_INT:
            ids.append(int(part))
    return ids


@bp.get("/servers/live")
@require_role()
def servers_live() -> ResponseReturnValue:
    """Fresh status of the servers on the page and the summary counts, as out-of-band swaps."""
    ids = _ids_arg(request.args.get("ids"))
    rows = list(db().scalars(select(Server).where(Server.id.in_(ids)))) if ids else []
    counts = _counts()
    return page("ui/servers_live.html", servers=rows, counts=counts, total=sum(counts.values()))


@bp.post("/servers/<int:server_id>/check")
@require_role(*WRITERS)
def check_server(server_id: int) -> ResponseReturnValue:
    session = db()
    server = get_server(session, server_id)
    job = queue_check(session, server)
    if is_htmx():
        return page("ui/server_status.html", server=server, pending=True, job_id=job.id)
    flash(f"Check of {server.name} queued (job {job.id}).")
    return redirect(back_to(url_for("ui.servers")))


@bp.post("/servers/check")
@require_role(*WRITERS)
def check_selected() -> ResponseReturnValue:
    ids = [int(v) for v in request.form.getlist("server_id") if v.isascii() and v.isdigit()][:MAX_BULK]
    session = db()
    servers_ = list(session.scalars(select(Server).where(Server.id.in_(ids)))) if ids else []
    if not servers_:
        flash("Select at least one server to check.", "error")
    else:
        for server in servers_:
            queue_check(session, server)
        flash(f"Checks of {len(servers_)} selected servers queued.")
    return redirect(back_to(url_for("ui.servers")))


@bp.post("/checks")
@require_role(*WRITERS)
def check_all() -> ResponseReturnValue:
    job = queue_check_all(db())
    flash(f"Check of every server queued (job {job.id}).")
    return redirect(back_to(url_for("ui.servers")))


# ---- create / edit / delete ----


def _server_form_values() -> dict[str, Any]:
    form = request.form
    return {
        "name": form.get("name", "").strip(),
        "address": form.get("address", "").strip(),
        "port": forms.to_int(form.get("port", "")),
        "protocol": form.get("protocol", "tcp"),
        "tags": forms.split_tags(form.get("tags", "")),
        "owner": forms.optional(form.get("owner")),
    }


def _form_page(server: Server | None, values: dict[str, Any], errors: dict[str, str], status: int) -> Any:
    return page("ui/server_form.html", status, server=server, values=values, errors=errors)


def _conflict_errors(exc: ApiError) -> dict[str, str]:
    if exc.status == 409:
        return {"name": "Another server already has this name; pick another."}
    raise exc


@bp.get("/servers/new")
@require_role(*WRITERS)
def server_new() -> ResponseReturnValue:
    values: dict[str, Any] = {"name": "", "address": "", "port": "", "protocol": "tcp", "tags": []}
    return _form_page(None, values, {}, 200)


@bp.post("/servers/new")
@require_role(*WRITERS)
def server_create() -> ResponseReturnValue:
    result = forms.validate(ServerCreate, _server_form_values())
    if result.model is None:
        return _form_page(None, result.values, result.errors, 422)
    try:
        server = create_server(db(), result.model)
    except ApiError as exc:
        return _form_page(None, result.values, _conflict_errors(exc), 409)
    flash(f"Server {server.name} created.")
    return redirect(url_for("ui.server_detail", server_id=server.id))


@bp.get("/servers/<int:server_id>/edit")
@require_role(*WRITERS)
def server_edit(server_id: int) -> ResponseReturnValue:
    server = get_server(db(), server_id)
    return _form_page(server, server.to_dict(), {}, 200)


@bp.post("/servers/<int:server_id>/edit")
@require_role(*WRITERS)
def server_update(server_id: int) -> ResponseReturnValue:
    session = db()
    server = get_server(session, server_id)
    result = forms.validate(ServerCreate, _server_form_values())
    if result.model is None:
        return _form_page(server, result.values, result.errors, 422)
    try:
        update_server(session, server, result.model.model_dump())
    except ApiError as exc:
        return _form_page(server, result.values, _conflict_errors(exc), 409)
    flash(f"Server {server.name} saved.")
    return redirect(url_for("ui.server_detail", server_id=server.id))


@bp.get("/servers/<int:server_id>/delete")
@require_role(*WRITERS)
def server_delete_confirm(server_id: int) -> ResponseReturnValue:
    return page("ui/server_delete.html", server=get_server(db(), server_id))


@bp.post("/servers/<int:server_id>/delete")
@require_role(*WRITERS)
def server_delete(server_id: int) -> ResponseReturnValue:
    session = db()
    server = get_server(session, server_id)
    name = server.name
    delete_server(session, server)
    flash(f"Server {name} deleted.")
    return redirect(url_for("ui.servers"))
