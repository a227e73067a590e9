"""RQ: jobs per queue and registry, workers per queue, the oldest queued job.

Registry counts are read with ``cleanup=False`` so that a health check never writes to Redis.
Labels are only the configured queue names and a fixed set of states: never job ids or worker names.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from panel_health.checks.base import PREFIX, classify, down, finish, safe_message
from panel_health.checks.redis_check import connect
from panel_health.results import CheckResult, Observation, Sample, Status, observe
from panel_health.settings import RqConfig

KIND = "rq"
REGISTRIES = {
    "started": StartedJobRegistry,
    "failed": FailedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
}


def _oldest_enqueued_at(queue: Queue, connection: redis.Redis) -> datetime | None:
    job_ids = queue.get_job_ids(0, 1)
    if not job_ids:
        return None
    raw = connection.hget(Job.key_for(job_ids[0]), "enqueued_at")
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_rq(url: str, config: RqConfig, timeout_seconds: float) -> CheckResult:
    started = time.monotonic()
    secrets = (urlsplit(url).password or "", url)
    connection = connect(url, timeout_seconds)
    samples: list[Sample] = []
    observations: list[Observation] = []
    try:
        now = datetime.now(UTC)
        for name in config.queues:
            queue = Queue(name, connection=connection)
            queued = queue.count
            counts = {"queued": queued}
            for state, registry_class in REGISTRIES.items():
                counts[state] = registry_class(queue=queue).get_job_count(cleanup=False)
            workers = Worker.count(queue=queue)
            oldest = _oldest_enqueued_at(queue, connection)
            labels = {"queue": name}
            for state, count in counts.items():
                samples.append(
                    Sample(
                        f"{PREFIX}_rq_jobs", "Jobs per RQ queue and state.", count, {**labels, "state": state}
                    )
                )
            samples.append(
                Sample(f"{PREFIX}_rq_workers", "RQ workers listening on the queue.", workers, labels)
            )
            observations.append(
                observe(f"{name}.queued", queued, "jobs", config.depth_warning, config.depth_critical)
            )
            observations.append(
                Observation(
                    f"{name}.workers",
                    workers,
                    "workers",
                    status=Status.FAIL if config.require_workers and workers == 0 else Status.PASS,
                )
            )
            if config.failed_warning is not None:
                observations.append(
                    observe(f"{name}.failed", counts["failed"], "jobs", config.failed_warning)
                )
            if oldest is not None:
                samples.append(
                    Sample(
                        f"{PREFIX}_rq_oldest_queued_job_enqueued_timestamp_seconds",
                        "When the oldest job still waiting in the queue was enqueued (Unix time).",
                        oldest.timestamp(),
                        labels,
                    )
                )
                age = max(0.0, (now - oldest).total_seconds())
                observations.append(
                    observe(
                        f"{name}.oldestQueuedJobAge",
                        round(age, 1),
                        "s",
                        config.oldest_job_age_warning_seconds,
                        config.oldest_job_age_critical_seconds,
                    )
                )
    except (redis.RedisError, OSError, ValueError) as exc:
        return down(KIND, "", started, classify(exc), safe_message(exc, secrets))
    finally:
        connection.close()
    return finish(KIND, "", started, observations, samples)
