"""Background jobs on RQ: check one server, check all (fan-out), and the periodic check-all.

Jobs carry the request id of the request that enqueued them (``job.meta["request_id"]``), so
their log lines join the request's. Functions here run inside the worker's app context.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, has_app_context
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from panel import cache, requestctx
from panel.checks import history
from panel.extensions import resources
from panel.metrics import JOBS_ENQUEUED
from panel.models import Server, iso
from panel.probes import probe

QUEUE_NAME = "panel"
RECENT_JOBS_KEY = "panel:jobs:recent"
PERIODIC_JOB_KEY = "panel:jobs:periodic-check-all"
RECENT_JOBS_KEPT = 20
RESULT_TTL_SECONDS = 24 * 3600
log = logging.getLogger(__name__)

# rq has more states than the API promises; map them onto the four the contract names.
API_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "failed",
    JobStatus.CANCELED: "failed",
}


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def _meta(kind: str) -> dict[str, Any]:
    ids = requestctx.current.get()
    meta: dict[str, Any] = {"kind": kind}
    if ids is not None:
        meta["request_id"] = ids.request_id
        if ids.trace_id:
            meta["trace_id"] = ids.trace_id
    return meta


def _enqueue(connection: redis.Redis, kind: str, func: Any, *args: Any, remember: bool = True) -> Job:
    job = queue(connection).enqueue(
        func,
        *args,
        meta=_meta(kind),
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        job_timeout=max(60, int(resources().settings.check_timeout_seconds * 4)),
    )
    JOBS_ENQUEUED.labels(kind).inc()
    if remember:
        with connection.pipeline() as pipe:
            pipe.lpush(RECENT_JOBS_KEY, job.id)
            pipe.ltrim(RECENT_JOBS_KEY, 0, RECENT_JOBS_KEPT - 1)
            pipe.execute()
    return job


def enqueue_check(server_id: int) -> Job:
    return _enqueue(resources().redis, "check_server", check_server, server_id)


def enqueue_check_all() -> Job:
    return _enqueue(resources().redis, "check_all", check_all)


def fetch(connection: redis.Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def describe(job: Job) -> dict[str, Any]:
    """The job as the API shows it: id, status (queued|started|finished|failed), result, kind."""
    status = job.get_status(refresh=False)
    result: Any = None
    if status == JobStatus.FINISHED:
        result = job.return_value()
    elif status == JobStatus.FAILED:
        latest = job.latest_result()
        last_line = (latest.exc_string or "").strip().splitlines()[-1:] if latest else []
        result = {"error": last_line[0] if last_line else "the job failed"}
    return {
        "id": job.id,
        "status": API_STATUS.get(status, "queued") if status else "queued",
        "kind": job.meta.get("kind"),
        "result": result,
        "enqueued_at": iso(job.enqueued_at),
        "ended_at": iso(job.ended_at),
        "request_id": job.meta.get("request_id"),
    }


def recent_jobs(connection: redis.Redis) -> list[dict[str, Any]]:
    ids = [_text(raw) for raw in connection.lrange(RECENT_JOBS_KEY, 0, RECENT_JOBS_KEPT - 1)]
    jobs = Job.fetch_many(ids, connection=connection) if ids else []
    return [describe(job) for job in jobs if job is not None]


# ---- job functions (run in the worker) ----

_fallback_app: Flask | None = None


@contextlib.contextmanager
def _job_context() -> Iterator[None]:
    """An app context (the worker's, or one built from the environment) and the job's request id."""
    global _fallback_app
    from rq import get_current_job

    job = get_current_job()
    request_id = (job.meta.get("request_id") if job else None) or (job.id if job else "job")
    token = requestctx.current.set(
        requestctx.TraceIds(request_id=request_id, trace_id=job.meta.get("trace_id") if job else None)
    )
    try:
        if has_app_context():
            yield
        else:
            if _fallback_app is None:
                from panel.app import create_app

                _fallback_app = create_app()
            with _fallback_app.app_context():
                yield
    finally:
        requestctx.current.reset(token)


def check_server(server_id: int) -> dict[str, Any]:
    """Probe one server and store the result (``history.record_result``); returns the result."""
    with _job_context():
        res = resources()
        session = res.sessions()
        try:
            server = session.get(Server, server_id)
            if server is None:
                return {"server_id": server_id, "up": None, "error": "the server was deleted"}
            outcome = probe(server.protocol, server.address, server.port, res.settings.check_timeout_seconds)
            history.record_result(session, server, outcome)
            session.commit()
            cache.invalidate(res.redis)
            log.info("server checked", extra={"server_id": server_id, "up": outcome.up})
            return {"server_id": server_id, **outcome.as_result()}
        finally:
            res.sessions.remove()


def check_all() -> dict[str, Any]:
    """Fan out: one check_server job per server."""
    with _job_context():
        res = resources()
        session = res.sessions()
        try:
            ids = list(session.scalars(select(Server.id).order_by(Server.id)))
        finally:
            res.sessions.remove()
        with res.redis.pipeline() as pipe:
            jobs = [
                Queue.prepare_data(
                    check_server,
                    (server_id,),
                    meta=_meta("check_server"),
                    result_ttl=RESULT_TTL_SECONDS,
                    failure_ttl=RESULT_TTL_SECONDS,
                )
                for server_id in ids
            ]
            enqueued = queue(res.redis).enqueue_many(jobs, pipeline=pipe) if jobs else []
            pipe.execute()
        JOBS_ENQUEUED.labels("check_server").inc(len(ids))
        log.info("check-all fanned out", extra={"servers": len(ids)})
        return {"enqueued": len(ids), "job_ids": [job.id for job in enqueued[:100]]}


def periodic_check_all() -> dict[str, Any]:
    """check_all, then schedule the next run (so exactly one chain of periodic runs exists).

    The next run is scheduled even when this one fails, so one bad run never ends the chain.
    """
    try:
        return check_all()
    finally:
        with _job_context():
            res = resources()
            if res.settings.check_interval_seconds > 0:
                _schedule_periodic(res.redis, res.settings.check_interval_seconds)
            prune_history()


def prune_history() -> int:
    """Delete check results older than CHECK_HISTORY_DAYS (run with every periodic round)."""
    with _job_context():
        res = resources()
        session = res.sessions()
        try:
            deleted = history.prune(session, res.settings.check_history_days)
        finally:
            res.sessions.remove()
        if deleted:
            log.info("check history pruned", extra={"deleted": deleted})
        return deleted


def _schedule_periodic(connection: redis.Redis, interval: int) -> Job:
    job = queue(connection).enqueue_in(
        timedelta(seconds=interval),
        periodic_check_all,
        meta={"kind": "periodic_check_all"},
        result_ttl=RESULT_TTL_SECONDS,
    )
    connection.set(PERIODIC_JOB_KEY, job.id)
    return job


def ensure_periodic(connection: redis.Redis, interval: int) -> Job | None:
    """Start the periodic chain unless one is already pending (called by every worker at start)."""
    if interval <= 0:
        return None
    with connection.lock("panel:jobs:periodic-lock", timeout=30, blocking_timeout=30):
        pending_id = connection.get(PERIODIC_JOB_KEY)
        if pending_id:
            job = fetch(connection, _text(pending_id))
            if job is not None and job.get_status() in (
                JobStatus.SCHEDULED,
                JobStatus.QUEUED,
                JobStatus.STARTED,
                JobStatus.DEFERRED,
            ):
                return job
        return _schedule_periodic(connection, interval)
