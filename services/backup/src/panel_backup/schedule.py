"""`schedule`: a small cron for hosts without Kubernetes (the `make up` stack), driven by croniter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .dburl import is_sqlite
from .errors import ConfigError
from .logs import get_logger
from .settings import SCHEDULE_OFF, Settings

log = get_logger("schedule")
OFF = SCHEDULE_OFF


@dataclass
class Job:
    name: str  # "create database", "create files", "create config", "drill"
    cron: str
    run: Callable[[], int]  # returns the command's exit status

    def next_after(self, moment: datetime) -> datetime:
        from croniter import croniter

        return croniter(self.cron, moment).get_next(datetime)


def planned_jobs(settings: Settings, runners: dict[str, Callable[[], int]]) -> list[Job]:
    """The jobs that make sense for this configuration: only sources that are configured. (The cron
    expressions were validated when the settings loaded.)"""
    wanted: list[tuple[str, str, str]] = []
    if settings.database_url:
        wanted.append(("create database", "BACKUP_SCHEDULE_DATABASE", settings.schedule_database))
        if not is_sqlite(settings.database_url) or settings.schedule_drill.lower() not in OFF:
            wanted.append(("drill", "BACKUP_SCHEDULE_DRILL", settings.schedule_drill))
    if settings.files_paths:
        wanted.append(("create files", "BACKUP_SCHEDULE_FILES", settings.schedule_files))
    if settings.config_dir:
        wanted.append(("create config", "BACKUP_SCHEDULE_CONFIG", settings.schedule_config))
    jobs = [
        Job(name, expression, runners[name])
        for name, _variable, expression in wanted
        if expression.strip().lower() not in OFF
    ]
    if not jobs:
        raise ConfigError("nothing to schedule: set DATABASE_URL, BACKUP_FILES_PATHS or BACKUP_CONFIG_DIR")
    return jobs


class Scheduler:
    """Runs jobs when due. Stop signals (interrupt.py) raise out of the wait or the running job;
    `running` tells the caller whether a job was cut short."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.running: str | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_job(self, job: Job) -> int:
        log.info("scheduled job starting", extra={"job": job.name})
        self.running = job.name
        try:
            status = job.run()
        except Exception as exc:  # the scheduler outlives any single failed run
            log.error("scheduled job crashed", extra={"job": job.name, "error": str(exc)})
            status = 1
        self.running = None
        log.info("scheduled job finished", extra={"job": job.name, "status": status})
        return status

    def run_all_now(self) -> int:
        return max((self.run_job(job) for job in self.jobs), default=0)

    def run_forever(self) -> None:
        now = datetime.now(UTC)
        due = {job.name: job.next_after(now) for job in self.jobs}
        for job in self.jobs:
            log.info(
                "scheduled", extra={"job": job.name, "cron": job.cron, "next_run": due[job.name].isoformat()}
            )
        while not self._stop.is_set():
            name = min(due, key=lambda n: due[n])
            wait = (due[name] - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 60))
                continue
            job = next(j for j in self.jobs if j.name == name)
            self.run_job(job)
            due[name] = job.next_after(datetime.now(UTC))
