"""The server-rendered dashboard: summary counts, the server list with status, recent jobs.

Plain HTML from Jinja templates (no build step); check triggers are POST forms carrying the
session's CSRF token (verified by panel.auth before the view runs).
"""

from __future__ import annotations

import json

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from panel import cache, jobs
from panel.auth import current_user, require_role
from panel.extensions import db, redis_client, settings
from panel.inventory import get_server, queue_check, queue_check_all
from panel.listing import count_by_status
from panel.models import Role, Server, ServerStatus

bp = Blueprint("dashboard", __name__, template_folder="templates")
WRITERS = (Role.ADMIN.value, Role.OPERATOR.value)
STATUSES = tuple(status.value for status in ServerStatus)
PAGE_SIZE = 200


@bp.get("/")
@require_role()
def index() -> ResponseReturnValue:
    status = request.args.get("status")
    if status not in STATUSES:
        status = None

    def compute() -> bytes:
        return json.dumps(count_by_status(db())).encode()

    counts = json.loads(
        cache.get_or_compute(
            redis_client(), "dashboard-summary", "", settings().cache_ttl_seconds, compute
        ).body
    )
    statement = select(Server).order_by(Server.name).limit(PAGE_SIZE)
    if status:
        statement = statement.where(Server.status == status)
    servers = list(db().scalars(statement))
    user = current_user()
    return render_template(
        "dashboard/index.html",
        counts={s: counts.get(s, 0) for s in STATUSES},
        total=sum(counts.values()),
        servers=servers,
        status=status,
        statuses=STATUSES,
        page_size=PAGE_SIZE,
        recent_jobs=jobs.recent_jobs(redis_client()),
        can_write=user is not None and user.role in WRITERS,
    )


@bp.post("/servers/<int:server_id>/check")
@require_role(*WRITERS)
def check_server(server_id: int) -> ResponseReturnValue:
    session = db()
    server = get_server(session, server_id)
    job = queue_check(session, server)
    flash(f"Check of {server.name} queued (job {job.id}).")
    return redirect(url_for(".index"))


@bp.post("/checks")
@require_role(*WRITERS)
def check_all() -> ResponseReturnValue:
    job = queue_check_all(db())
    flash(f"Check of every server queued (job {job.id}).")
    return redirect(url_for(".index"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
