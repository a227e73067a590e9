"""Jobs: the recent background jobs and one job's detail (live while it runs)."""

from __future__ import annotations

import json
import re

from flask.typing import ResponseReturnValue

from panel import jobs as job_queue
from panel.auth import require_role
from panel.errors import ApiError
from panel.extensions import redis_client
from panel.ui.render import bp, page

JOB_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


@bp.get("/jobs")
@require_role()
def jobs() -> ResponseReturnValue:
    return page("ui/jobs.html", jobs=job_queue.recent_jobs(redis_client()))


@bp.get("/jobs/<job_id>")
@require_role()
def job_detail(job_id: str) -> ResponseReturnValue:
    job = job_queue.fetch(redis_client(), job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise ApiError(404, "Not found", f"There is no job {job_id} (results are kept for 24 hours).")
    described = job_queue.describe(job)
    result = json.dumps(described.get("result"), indent=2, sort_keys=True, default=str)
    return page("ui/job_detail.html", job=described, result=result)
