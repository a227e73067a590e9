"""The panel's one settings object, read from the environment (every setting also from ``<NAME>_FILE``).

Only the declarations live here (fields, validators, the production rules); the sources, the
``_FILE`` reading, the one-line-per-problem errors and secret registration come from `service_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import service_settings
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from panel.proxies import DEFAULT_NETWORKS as DEFAULT_PROXY_NETWORKS
from panel.proxies import parse_networks

# Development defaults; production mode refuses to start while any of these is still in use.
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105
DEFAULT_JWT_SECRET = "dev-jwt-secret-change-me"  # noqa: S105

SECRET_FIELDS = (
    "secret_key",
    "jwt_secret",
    "google_client_secret",
    "oidc_client_secret",
    "database_url",
    "redis_url",
    "notify_smtp_password",
    "notify_webhook_secret",
)


# Configuration is invalid; ``problems`` holds one human-readable line per problem.
SettingsError = service_settings.SettingsError


class Settings(service_settings.ServiceSettings):
    """Everything the panel reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")
    # Every setting keeps its `<NAME>_FILE` form (file_fields None): deployments use several of them.
    secret_fields: ClassVar[frozenset[str]] = frozenset(SECRET_FIELDS)

    panel_env: Literal["development", "production", "testing"] = "development"
    panel_url: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///var/panel.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEFAULT_SECRET_KEY
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_access_ttl_seconds: int = Field(default=900, ge=30)
    jwt_refresh_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    google_client_id: str | None = None
    google_client_secret: str | None = None
    oidc_issuer_url: str | None = None  # generic OIDC issuer; Google's when only GOOGLE_* are set
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_default_role: Literal["admin", "operator", "viewer"] = "viewer"

    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    redis_max_connections: int = Field(default=50, ge=1)
    # Every Redis command of the web app gives up after this long (the worker's: at least 5 s); after a
    # failure, Redis is not tried again for REDIS_BREAKER_SECONDS (requests needing it answer 503 at once).
    redis_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    redis_breaker_seconds: float = Field(default=2.0, ge=0, le=300)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    cache_ttl_seconds: int = Field(default=30, ge=1)
    # How long a user's auth state (role, active) may be served from Redis; changes through the
    # panel invalidate it at once, so this only bounds raw-SQL edits. 0 reads the database every time.
    auth_cache_ttl_seconds: int = Field(default=30, ge=0)
    # Argon2id cost for password hashes. Default: OWASP's Password Storage Cheat Sheet minimum
    # (m=19 MiB, t=2, p=1); argon2-cffi's own default (RFC 9106 low-memory: 64 MiB, t=3, p=4) costs
    # ~5x the CPU-memory per sign-in. Stored hashes carry their own parameters and are re-hashed
    # with these on the next successful sign-in.
    argon2_memory_kib: int = Field(default=19456, ge=1024)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    # Failed sign-ins (see panel/auth/ratelimit.py): per username+address and per address in a window,
    # then growing per-user delays (skipped from addresses the user signed in from before).
    login_rate_limit: int = Field(default=10, ge=1)
    login_rate_window_seconds: int = Field(default=300, ge=1)
    login_address_limit: int = Field(default=50, ge=1)
    login_user_free_failures: int = Field(default=5, ge=0)
    login_user_max_delay_seconds: int = Field(default=300, ge=1)
    check_timeout_seconds: float = Field(default=5.0, gt=0)
    check_interval_seconds: int = Field(default=300, ge=0)  # 0 disables periodic checks
    # Probes in flight at once in a check-all round (one worker process); each holds one socket.
    check_concurrency: int = Field(default=200, ge=1, le=5000)
    check_history_days: int = Field(default=30, ge=1)  # check results older than this are pruned

    uploads_dir: Path = Path("var/uploads")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    web_concurrency: int = Field(default=2, ge=1)
    web_threads: int = Field(default=4, ge=1)  # per worker; used by the gthread worker class only
    web_worker_class: Literal["gthread", "sync"] = "gthread"
    web_bind: str = "0.0.0.0:8000"
    # Prometheus /metrics on a listener of its own (contract C2); 0 turns it off.
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    metrics_address: str = "0.0.0.0"  # noqa: S104 - all interfaces of the pod, by contract
    # Proxy hops in front of the web server (the chart's ingress: 1); 0 = clients connect directly.
    # Forwarded headers are only believed from peers in TRUSTED_PROXY_NETWORKS (see panel/proxies.py).
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    trusted_proxy_networks: str = DEFAULT_PROXY_NETWORKS

    # ---- UI (panel.ui) ----
    # How often open pages poll for fresh status (htmx); 0 turns live updates off.
    ui_refresh_seconds: float = Field(default=5.0, ge=0, le=3600)

    # ---- notifications on state change (panel.notifications) ----
    # Flap suppression: a server counts as down (and "down" is sent) after this many failed checks
    # in a row; one successful check after that sends "up".
    notify_failures_before_down: int = Field(default=3, ge=1, le=1000)
    notify_smtp_host: str | None = None  # email channels need it; without it their deliveries fail
    notify_smtp_port: int = Field(default=587, ge=1, le=65535)
    notify_smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    notify_smtp_username: str | None = None
    notify_smtp_password: str | None = None
    notify_email_from: str = "panel@localhost"
    notify_webhook_secret: str | None = None  # signs webhook bodies: X-Panel-Signature: sha256=<hmac>
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:", "postgres:")):
            raise ValueError(
                "must start with sqlite:/// or postgresql:// (e.g. postgresql://user@host/panel)"
            )
        if value.startswith("postgres:"):  # Heroku-style scheme that SQLAlchemy no longer accepts
            value = "postgresql:" + value.removeprefix("postgres:")
        if value.startswith("postgresql:"):  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
            value = "postgresql+psycopg2:" + value.removeprefix("postgresql:")
        return value

    @field_validator("trusted_proxy_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://redis:6379/0)")
        return value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.panel_env != "production":
            return self
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY: set a random value of at least 32 characters in production")
        if self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32:
            problems.append("JWT_SECRET: set a random value of at least 32 characters in production")
        if problems:
            raise ValueError("\n".join(problems))  # one problem per line
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.resolved_oidc_client_id and self.resolved_oidc_client_secret)

    @property
    def resolved_oidc_client_id(self) -> str | None:
        return self.oidc_client_id or self.google_client_id

    @property
    def resolved_oidc_client_secret(self) -> str | None:
        return self.oidc_client_secret or self.google_client_secret

    @property
    def resolved_oidc_issuer(self) -> str:
        return self.oidc_issuer_url or "https://accounts.google.com"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``environ`` (default: the process environment) and ``overrides``.

    Raises SettingsError with one line per problem, naming the variable and the fix.
    """
    return service_settings.load(Settings, environ=environ, **overrides)
