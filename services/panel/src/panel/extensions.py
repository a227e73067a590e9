"""Per-app handles to the database and Redis, reachable from requests, jobs and CLI commands."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, scoped_session

from panel import credentials
from panel.cache import GENERATION_KEY as RESPONSES_GENERATION_KEY
from panel.db import make_engine, make_session_factory
from panel.generations import Local, Watcher
from panel.redis_guard import guarded_client
from panel.settings import Settings
from panel.user_cache import GENERATION_KEY as USERS_GENERATION_KEY
from panel.user_cache import UserCache


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    sessions: scoped_session[Session]
    redis: redis.Redis
    users: UserCache
    # Generations pushed to this process and the in-process response cache (panel.generations).
    generations: Watcher | None
    responses: Local[tuple[bytes, str]]

    @classmethod
    def create(cls, settings: Settings) -> Resources:
        engine = make_engine(settings)
        client = guarded_client(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            breaker_seconds=settings.redis_breaker_seconds,
            max_connections=settings.redis_max_connections,
        )
        sessions = make_session_factory(engine)
        watcher = Watcher(
            lambda: redis.Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=settings.redis_timeout_seconds,
                socket_timeout=max(5.0, settings.redis_timeout_seconds),
                health_check_interval=30,
            ),
            (RESPONSES_GENERATION_KEY, USERS_GENERATION_KEY),
        )
        responses: Local[tuple[bytes, str]] = Local(256, settings.cache_ttl_seconds)
        users = UserCache(client, settings.auth_cache_ttl_seconds, watcher)
        users.watch(sessions.session_factory)
        credentials.watch(sessions.session_factory)
        return cls(settings, engine, sessions, client, users, watcher, responses)

    def close(self) -> None:
        """Release what the app holds (for tests and one-off commands that build many apps)."""
        if self.generations is not None:
            self.generations.stop()
        self.sessions.remove()
        self.engine.dispose()
        self.redis.close()


def init_app(app: Flask, resources: Resources) -> None:
    app.extensions["panel"] = resources

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        resources.sessions.remove()


def resources() -> Resources:
    resources_: Resources = current_app.extensions["panel"]
    return resources_


def db() -> Session:
    """The database session of the current request (removed at teardown)."""
    return resources().sessions()


def redis_client() -> redis.Redis:
    return resources().redis


def settings() -> Settings:
    return resources().settings
