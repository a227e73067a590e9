"""Background jobs on RQ: "Check now" (one server), check-all rounds, the periodic round, and their status.

Queues: ``panel-high`` ("Check now": a user waits for it) and ``panel`` (check-all rounds, the periodic
chain); the worker always takes from ``panel-high`` first. A check-all job only starts a round on the
worker's check engine (``panel.checks.engine``) and returns; the round's progress and outcome are
reported as the job's status and result (``describe``), and a round that finds another still running
is skipped and counted (``panel_check_rounds_skipped_total``).

Jobs carry the request id of the request that enqueued them (``job.meta["request_id"]``), so their log
lines join the request's. Job functions run inside an app context (the worker's, or the test's); they
never build an app themselves.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from panel import cache, requestctx
from panel.checks import history, rounds
from panel.checks.engine import RoundRunning, engine_for
from panel.checks.probes import Target
from panel.extensions import Resources, resources
from panel.metrics import CHECK_ROUNDS_SKIPPED, JOBS_ENQUEUED
from panel.models import Server, iso
from panel.queues import (  # noqa: F401 - re-exported: callers name the queues through panel.jobs
    HIGH_QUEUE_NAME,
    QUEUE_NAME,
    RESULT_TTL_SECONDS,
    high_queue,
    queue,
    worker_queues,
)

RECENT_JOBS_KEY = "panel:jobs:recent"
PERIODIC_JOB_KEY = "panel:jobs:periodic-check-all"
RECENT_JOBS_KEPT = 20
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
ROUND_STATUS = {
    rounds.RUNNING: "started",
    rounds.FINISHED: "finished",
    rounds.SKIPPED: "finished",
    rounds.INTERRUPTED: "failed",
}
ROUND_KINDS = frozenset({"check_all", "periodic_check_all"})


def _meta(kind: str) -> dict[str, Any]:
    ids = requestctx.current.get()
    meta: dict[str, Any] = {"kind": kind}
    if ids is not None:
        meta["request_id"] = ids.request_id
        if ids.trace_id:
            meta["trace_id"] = ids.trace_id
    return meta


def _enqueue(target_queue: Queue, kind: str, func: Any, *args: Any) -> Job:
    connection = target_queue.connection
    job = target_queue.enqueue(
        func,
        *args,
        meta=_meta(kind),
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        job_timeout=max(60, int(resources().settings.check_timeout_seconds * 4)),
    )
    JOBS_ENQUEUED.labels(kind).inc()
    with connection.pipeline() as pipe:
        pipe.lpush(RECENT_JOBS_KEY, job.id)
        pipe.ltrim(RECENT_JOBS_KEY, 0, RECENT_JOBS_KEPT - 1)
        pipe.execute()
    return job


def enqueue_check(server_id: int) -> Job:
    """ "Check now": the high-priority queue, ahead of any round."""
    return _enqueue(high_queue(resources().redis), "check_server", check_server, server_id)


def enqueue_check_all() -> Job:
    return _enqueue(queue(resources().redis), "check_all", check_all)


def fetch(connection: redis.Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def describe(job: Job) -> dict[str, Any]:
    """The job as the API shows it: id, status (queued|started|finished|failed), result, kind.

    A check-all job is as far along as its round: ``started`` while the round runs, with the result
    ``{"state", "total", "done", "up", "down", "started_at", "finished_at"}`` (or ``skipped``).
    """
    status = job.get_status(refresh=False)
    api_status = API_STATUS.get(status, "queued") if status else "queued"
    result: Any = None
    ended_at = iso(job.ended_at)
    if status == JobStatus.FINISHED:
        result = job.return_value()
    elif status == JobStatus.FAILED:
        latest = job.latest_result()
        last_line = (latest.exc_string or "").strip().splitlines()[-1:] if latest else []
        result = {"error": last_line[0] if last_line else "the job failed"}
    kind = job.meta.get("kind")
    if kind in ROUND_KINDS and status == JobStatus.FINISHED:
        progress = rounds.progress(job.connection, job.id)
        if progress is not None:
            result = progress
            api_status = ROUND_STATUS.get(progress["state"], "started")
            ended_at = progress.get("finished_at")
    return {
        "id": job.id,
        "status": api_status,
        "kind": kind,
        "result": result,
        "enqueued_at": iso(job.enqueued_at),
        "ended_at": ended_at,
        "request_id": job.meta.get("request_id"),
    }


def recent_jobs(connection: redis.Redis) -> list[dict[str, Any]]:
    ids = [_text(raw) for raw in connection.lrange(RECENT_JOBS_KEY, 0, RECENT_JOBS_KEPT - 1)]
    jobs = Job.fetch_many(ids, connection=connection) if ids else []
    return [describe(job) for job in jobs if job is not None]


# ---- job functions (run in the worker, inside its app context) ----


@contextlib.contextmanager
def _job_context() -> Iterator[Resources]:
    """The app's resources, with the job's request id set for its log lines."""
    job = get_current_job()
    request_id = (job.meta.get("request_id") if job else None) or (job.id if job else "job")
    trace_id = job.meta.get("trace_id") if job else None
    token = requestctx.current.set(requestctx.TraceIds(request_id=request_id, trace_id=trace_id))
    try:
        yield resources()
    finally:
        requestctx.current.reset(token)


def check_server(server_id: int) -> dict[str, Any]:
    """ "Check now": probe one server on the engine's own slots and store the result."""
    with _job_context() as res:
        session = res.sessions()
        try:
            server = session.get(Server, server_id)
            if server is None:
                return {"server_id": server_id, "up": None, "error": "the server was deleted"}
            target = Target(server.id, server.protocol, server.address, server.port)
            session.rollback()  # no transaction held open while the probe runs
            outcome = engine_for(res).check_one(target)
            server = session.get(Server, server_id)
            if server is None:
                return {"server_id": server_id, "up": None, "error": "the server was deleted"}
            history.record_result(session, server, outcome)
            session.commit()
            cache.invalidate(res.redis)
            log.info("server checked", extra={"server_id": server_id, "up": outcome.up})
            return {"server_id": server_id, **outcome.as_result()}
        finally:
            res.sessions.remove()


def _start_round(trigger: str) -> dict[str, Any]:
    job = get_current_job()
    round_id = job.id if job else f"round-{trigger}"
    with _job_context() as res:
        try:
            engine_for(res).start_round(round_id, trigger)
        except RoundRunning as running:
            CHECK_ROUNDS_SKIPPED.labels(trigger).inc()
            rounds.skipped(res.redis, round_id, trigger, running.running)
            log.warning("check-all skipped: the previous round is still running", extra=vars(running))
            return {"round_id": round_id, "state": rounds.SKIPPED, "running_round": running.running}
        log.info("check-all round started", extra={"round_id": round_id, "trigger": trigger})
        return {"round_id": round_id, "state": rounds.RUNNING}


def check_all() -> dict[str, Any]:
    """Start a check-all round (asked for by a user); skipped while another round runs."""
    return _start_round("manual")


def periodic_check_all() -> dict[str, Any]:
    """The periodic round: start it (or skip it), schedule the next one, prune old history.

    The next run is scheduled even when this one fails, so one bad run never ends the chain.
    """
    try:
        return _start_round("periodic")
    finally:
        with _job_context() as res:
            if res.settings.check_interval_seconds > 0:
                _schedule_periodic(res.redis, res.settings.check_interval_seconds)
        prune_history()


def prune_history() -> int:
    """Delete check results older than CHECK_HISTORY_DAYS (run with every periodic round)."""
    with _job_context() as res:
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
