"""The RQ queues every part of the panel enqueues on: their names, and the worker's order.

Its own module so that whatever enqueues a job (``panel.jobs`` for checks, ``panel.notifications.delivery``
for notifications) depends on this and on nothing of the others: ``panel.jobs`` needs the check modules,
whose results trigger notifications, so delivery importing ``panel.jobs`` closed an import circle.
"""

from __future__ import annotations

import redis
from rq import Queue

QUEUE_NAME = "panel"
HIGH_QUEUE_NAME = "panel-high"
RESULT_TTL_SECONDS = 24 * 3600


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection)


def high_queue(connection: redis.Redis) -> Queue:
    return Queue(HIGH_QUEUE_NAME, connection=connection)


def worker_queues(connection: redis.Redis) -> list[Queue]:
    """In priority order: a worker empties ``panel-high`` before it takes from ``panel``."""
    return [high_queue(connection), queue(connection)]
