"""One server's page: heartbeat bar, uptime, latency chart, recent errors; live while it is open."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from rq.job import JobStatus

from panel import jobs
from panel.auth import require_role
from panel.extensions import db, redis_client
from panel.inventory import get_server
from panel.models import Server
from panel.ui import charts, notify, uptime
from panel.ui.render import bp, page

JOB_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
PENDING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED)


def _live_context(server: Server) -> dict[str, Any]:
    session = db()
    return {
        "server": server,
        "beats": charts.heartbeat_slots(uptime.heartbeats(session, server.id)),
        "uptimes": uptime.uptimes(session, server.id),
        "errors": uptime.recent_errors(session, server.id),
    }


def _chart_range() -> str:
    value = request.args.get("range", "24h")
    return value if value in uptime.CHART_RANGES else "24h"


@bp.get("/servers/<int:server_id>")
@require_role()
def server_detail(server_id: int) -> ResponseReturnValue:
    server = get_server(db(), server_id)
    chart_range = _chart_range()
    buckets = uptime.latency(db(), server.id, uptime.CHART_RANGES[chart_range])
    return page(
        "ui/server_detail.html",
        **_live_context(server),
        chart=charts.latency_chart(buckets),
        chart_range=chart_range,
        chart_ranges=list(uptime.CHART_RANGES),
        channels=notify.channels_for(server.id),
    )


@bp.get("/servers/<int:server_id>/live")
@require_role()
def server_live(server_id: int) -> ResponseReturnValue:
    """The live part of the server page (status, heartbeats, uptime, errors) for htmx to swap in."""
    return page("ui/_server_live.html", **_live_context(get_server(db(), server_id)), oob_errors=True)


@bp.get("/servers/<int:server_id>/status")
@require_role()
def server_status(server_id: int) -> ResponseReturnValue:
    """The status pill; while the check job ``job`` is still pending, a pill that asks again."""
    server = get_server(db(), server_id)
    job_id = request.args.get("job", "")
    job = jobs.fetch(redis_client(), job_id) if JOB_ID.fullmatch(job_id) else None
    pending = job is not None and job.get_status(refresh=False) in PENDING
    return page("ui/server_status.html", server=server, pending=pending, job_id=job_id)
