"""The check engine: one asyncio loop per worker process that runs check-all rounds and "Check now".

A round (``start_round``) loads every server, probes them with at most ``CHECK_CONCURRENCY`` in flight,
and stores the results in batches (one transaction per ``RESULT_BATCH`` results, through
``history.record_result``) from a database thread, so the loop never waits on the database. It runs in
the background: the job that started it returns at once, so the same worker keeps taking "Check now"
jobs from the high-priority queue while a round drains. A "Check now" probe (``check_one``) has slots
of its own on the same loop and never queues behind the round.

Rounds never stack: a round runs only while it holds the lease in ``panel.checks.rounds``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from redis.lock import Lock
from sqlalchemy import select

from panel import cache
from panel.checks import history, rounds
from panel.checks.history import CheckOutcome
from panel.checks.probes import Target, http_client, probe
from panel.extensions import Resources
from panel.metrics import CHECK_ROUND_SECONDS, CHECK_ROUNDS, CHECKS_DONE
from panel.models import Server

log = logging.getLogger(__name__)
RESULT_BATCH = 500  # results per transaction
FLUSH_SECONDS = 1.0  # a partial batch is stored after this long
CHECK_NOW_SLOTS = 32


class RoundRunning(Exception):
    def __init__(self, running: str | None) -> None:
        super().__init__(f"check-all round {running} is still running")
        self.running = running


class CheckEngine:
    def __init__(self, resources: Resources) -> None:
        self._res = resources
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="check-engine", daemon=True)
        self._thread.start()
        # One thread writes results: batches of one round commit in order, never concurrently.
        self._db = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-db")
        self._rounds: dict[str, concurrent.futures.Future[None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}  # the same rounds, as tasks on the loop
        self._now_slots = asyncio.Semaphore(CHECK_NOW_SLOTS)
        self._now_client = http_client(CHECK_NOW_SLOTS)

    # ---- called from job threads ----

    def start_round(self, round_id: str, trigger: str) -> None:
        """Start a check-all round in the background; RoundRunning when another one holds the lease."""
        lease = rounds.acquire(self._res.redis, round_id)
        if lease is None:
            raise RoundRunning(rounds.running_round(self._res.redis))
        rounds.start(self._res.redis, round_id, trigger)
        future = asyncio.run_coroutine_threadsafe(self._round(round_id, trigger, lease), self._loop)
        self._rounds[round_id] = future
        future.add_done_callback(lambda _f: self._rounds.pop(round_id, None))

    def wait(self, round_id: str, timeout: float | None = None) -> None:
        """Block until the round ``round_id`` of this process has ended (for tests and the benchmark)."""
        future = self._rounds.get(round_id)
        if future is not None:
            with contextlib.suppress(concurrent.futures.CancelledError):
                future.result(timeout)

    def check_one(self, target: Target) -> CheckOutcome:
        """Probe one server now (its own slots: never behind a round); blocks for at most the timeout."""
        timeout = self._res.settings.check_timeout_seconds
        future = asyncio.run_coroutine_threadsafe(self._probe_now(target, timeout), self._loop)
        return future.result(timeout + 10)

    def stop(self, timeout: float = 10.0) -> None:
        """Interrupt running rounds (marked interrupted, lease released: the next round checks again),
        then stop the loop."""
        cancelled = asyncio.run_coroutine_threadsafe(self._cancel_rounds(), self._loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            cancelled.result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._db.shutdown(wait=True)

    # ---- on the loop ----

    async def _cancel_rounds(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each round's finally has run

    async def _probe_now(self, target: Target, timeout: float) -> CheckOutcome:
        async with self._now_slots:
            return await probe(target, timeout, self._now_client)

    async def _round(self, round_id: str, trigger: str, lease: Lock) -> None:
        loop = asyncio.get_running_loop()
        settings = self._res.settings
        started = time.perf_counter()
        state, error = rounds.INTERRUPTED, None
        task = asyncio.current_task()
        if task is not None:
            self._tasks[round_id] = task
        try:
            targets = await loop.run_in_executor(self._db, self._load_targets)
            rounds.set_total(self._res.redis, round_id, len(targets))
            results: asyncio.Queue[tuple[Target, CheckOutcome] | None] = asyncio.Queue()
            writer = asyncio.create_task(self._write_results(round_id, lease, results))
            pending = iter(targets)
            async with http_client(settings.check_concurrency) as client:

                async def prober() -> None:
                    for target in pending:  # shared iterator: each target is taken by one prober
                        outcome = await probe(target, settings.check_timeout_seconds, client)
                        results.put_nowait((target, outcome))

                probers = min(settings.check_concurrency, max(1, len(targets)))
                await asyncio.gather(*(prober() for _ in range(probers)))
            results.put_nowait(None)
            await writer
            state = rounds.FINISHED
        except asyncio.CancelledError:
            error = "the worker stopped during this round; the next round checks every server again"
            raise
        except Exception as exc:  # a failed round must release its lease and say why
            log.exception("check-all round failed", extra={"round_id": round_id})
            error = f"{type(exc).__name__}: the round failed; see the worker log"
        finally:
            self._tasks.pop(round_id, None)
            elapsed = time.perf_counter() - started
            CHECK_ROUND_SECONDS.observe(elapsed)
            CHECK_ROUNDS.labels(trigger, state).inc()
            with contextlib.suppress(redis.RedisError):
                rounds.finish(self._res.redis, round_id, state, error)
            with contextlib.suppress(redis.RedisError, Exception):
                lease.release()
            log.info("check-all round ended", extra={"round_id": round_id, "state": state})

    async def _write_results(
        self, round_id: str, lease: Lock, results: asyncio.Queue[tuple[Target, CheckOutcome] | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        finished = False
        while not finished:
            batch: list[tuple[Target, CheckOutcome]] = []
            deadline = loop.time() + FLUSH_SECONDS
            while len(batch) < RESULT_BATCH:
                try:
                    item = await asyncio.wait_for(results.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    break
                if item is None:
                    finished = True
                    break
                batch.append(item)
            if batch:
                await loop.run_in_executor(self._db, self._store, round_id, lease, batch)

    # ---- on the database thread ----

    def _load_targets(self) -> list[Target]:
        with self._session() as session:
            rows = session.execute(
                select(Server.id, Server.protocol, Server.address, Server.port).order_by(Server.id)
            )
            return [Target(row.id, row.protocol, row.address, row.port) for row in rows]

    def _store(self, round_id: str, lease: Lock, batch: list[tuple[Target, CheckOutcome]]) -> None:
        with self._session() as session:
            ids = [target.server_id for target, _ in batch]
            servers = {s.id: s for s in session.scalars(select(Server).where(Server.id.in_(ids)))}
            up = 0
            for target, outcome in batch:
                server = servers.get(target.server_id)
                if server is None:  # deleted while the round ran
                    continue
                history.record_result(session, server, outcome)
                up += outcome.up
            session.commit()
        CHECKS_DONE.labels("up").inc(up)
        CHECKS_DONE.labels("down").inc(len(batch) - up)
        cache.invalidate(self._res.redis)
        try:
            rounds.add(self._res.redis, round_id, len(batch), up)
            lease.extend(rounds.LEASE_SECONDS, replace_ttl=True)
        except redis.RedisError as exc:  # progress is lost for this batch; the results are stored
            log.warning("round progress not updated", extra={"error": type(exc).__name__})

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        session = self._res.sessions()
        try:
            yield session
        finally:
            self._res.sessions.remove()


_engines: dict[int, CheckEngine] = {}
_engines_lock = threading.Lock()


def engine_for(resources: Resources) -> CheckEngine:
    """This process's engine for these resources (created on first use)."""
    with _engines_lock:
        engine = _engines.get(id(resources))
        if engine is None:
            engine = _engines[id(resources)] = CheckEngine(resources)
        return engine


def wait_all(timeout: float | None = None) -> None:
    """Block until every round of every engine of this process has ended."""
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        for round_id in list(engine._rounds):
            engine.wait(round_id, timeout)


def stop_all(timeout: float = 10.0) -> None:
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.stop(timeout)
