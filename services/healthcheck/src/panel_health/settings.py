"""The one settings object for panel-health: a YAML file plus a few environment overrides.

Precedence (highest first): ``PANEL_URL`` / ``PANEL_PUBLIC_URL`` / ``DATABASE_URL`` / ``REDIS_URL`` from the
environment, the same names with ``_FILE`` (a path whose content is the value, for Kubernetes secrets), then
the YAML file named by ``PANEL_HEALTH_CONFIG`` (or ``--config``), then the defaults below. Only those names
are read from the environment, so an unrelated variable can never change a threshold by accident.

Only the declarations live here; the sources, the ``_FILE`` reading and the YAML overlay come from
`service_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from service_settings import ServiceSettings, SettingsError, load

CONFIG_ENV = "PANEL_HEALTH_CONFIG"
ENV_OVERRIDES = ("PANEL_URL", "PANEL_PUBLIC_URL", "DATABASE_URL", "REDIS_URL")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
Measurement = Literal["disk", "memory", "cpu"]
MEASUREMENTS: tuple[Measurement, ...] = ("disk", "memory", "cpu")


def check_url(value: str, schemes: tuple[str, ...], example: str) -> str:
    """``value`` if it is a usable URL with one of ``schemes``; else ValueError naming the fix.

    The URL itself is never part of the message: it may hold a password.
    """
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise ValueError(f"must start with {' or '.join(s + '://' for s in schemes)} (e.g. {example})")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        reason = "its port is not a number from 1 to 65535" if "port" in str(exc).lower() else str(exc)
        raise ValueError(f"not a valid URL: {reason} (e.g. {example})") from None
    if scheme.lower() != "unix" and not parts.hostname:
        raise ValueError(f"not a valid URL: it names no host (e.g. {example})")
    if port == 0:
        raise ValueError(f"not a valid URL: its port is not a number from 1 to 65535 (e.g. {example})")
    return value


def check_order(
    section: str, pairs: list[tuple[str, float | None, str, float | None]], lower_is_worse: bool = False
) -> None:
    """Warning thresholds must be reached before the critical ones, or the warning never shows."""
    for warn_name, warn, crit_name, crit in pairs:
        if warn is None or crit is None:
            continue
        if (warn < crit) if lower_is_worse else (warn > crit):
            relation = "at least" if lower_is_worse else "at most"
            raise ValueError(
                f"{section}.{warn_name} ({warn:g}) must be {relation} {section}.{crit_name} ({crit:g}); "
                "swap or fix them"
            )


# The configuration is invalid; ``problems`` holds one line per problem, each naming the fix. The
# checks and the CLI raise it too, so that every configuration problem exits 2 the same way.
ConfigError = SettingsError


class _Section(BaseModel):
    # `.inf` and `.nan` are valid YAML floats but never a usable timeout or threshold.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ExporterConfig(_Section):
    listen_host: str = "0.0.0.0"  # noqa: S104 - the exporter is scraped from other pods
    port: int = Field(default=9117, ge=1, le=65535)
    default_scrape_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    scrape_timeout_margin_seconds: float = Field(default=0.5, ge=0)


class HttpTarget(_Section):
    name: str = Field(pattern=NAME_PATTERN)
    url: str | None = None
    path: str | None = None
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[int] = Field(default_factory=lambda: [200])
    body_contains: str | None = None
    follow_redirects: bool = True
    verify_tls: bool = True
    timeout_seconds: float | None = Field(default=None, gt=0)
    latency_warning_seconds: float = Field(default=1.0, gt=0)
    latency_critical_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _one_location(self) -> HttpTarget:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` (absolute) or `path` (relative to panel_url)")
        if self.url is not None:
            try:
                check_url(self.url, ("http", "https"), "https://docs.example.org/")
            except ValueError as exc:
                raise ValueError(f"`url` {exc}") from None
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("`path` must start with / (it is appended to panel_url)")
        check_order(
            "http.targets",
            [
                (
                    "latency_warning_seconds",
                    self.latency_warning_seconds,
                    "latency_critical_seconds",
                    self.latency_critical_seconds,
                )
            ],
        )
        return self


def _panel_default_targets() -> list[HttpTarget]:
    return [
        HttpTarget(name="health", path="/readyz"),
        HttpTarget(name="main", path="/"),
        HttpTarget(name="api", path="/api/v2/openapi.json"),
    ]


class HttpConfig(_Section):
    enabled: bool = True
    include_panel_defaults: bool = True  # health (/readyz), main (/), api (/api/v2/openapi.json)
    targets: list[HttpTarget] = Field(default_factory=list)


class PostgresConfig(_Section):
    enabled: bool = True
    timeout_seconds: float | None = Field(default=None, gt=0)
    latency_warning_seconds: float = Field(default=0.5, gt=0)
    latency_critical_seconds: float = Field(default=2.0, gt=0)
    connections_warning_ratio: float = Field(default=0.8, gt=0, le=1)
    connections_critical_ratio: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> PostgresConfig:
        check_order(
            "postgres",
            [
                (
                    "latency_warning_seconds",
                    self.latency_warning_seconds,
                    "latency_critical_seconds",
                    self.latency_critical_seconds,
                ),
                (
                    "connections_warning_ratio",
                    self.connections_warning_ratio,
                    "connections_critical_ratio",
                    self.connections_critical_ratio,
                ),
            ],
        )
        return self


class RedisConfig(_Section):
    enabled: bool = True
    timeout_seconds: float | None = Field(default=None, gt=0)
    latency_warning_seconds: float = Field(default=0.1, gt=0)
    latency_critical_seconds: float = Field(default=1.0, gt=0)
    memory_warning_ratio: float = Field(default=0.8, gt=0, le=1)
    memory_critical_ratio: float = Field(default=0.9, gt=0, le=1)
    clients_warning: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RedisConfig:
        check_order(
            "redis",
            [
                (
                    "latency_warning_seconds",
                    self.latency_warning_seconds,
                    "latency_critical_seconds",
                    self.latency_critical_seconds,
                ),
                (
                    "memory_warning_ratio",
                    self.memory_warning_ratio,
                    "memory_critical_ratio",
                    self.memory_critical_ratio,
                ),
            ],
        )
        return self


class RqConfig(_Section):
    enabled: bool = True
    # The panel's worker serves "panel-high" ("Check now", a user waits for it) before "panel" (check-all
    # rounds): services/panel/src/panel/jobs.py worker_queues. Both are watched, so a stuck "Check now"
    # queue is seen even while "panel" drains.
    queues: list[str] = Field(default_factory=lambda: ["panel-high", "panel"], min_length=1)
    timeout_seconds: float | None = Field(default=None, gt=0)
    depth_warning: int = Field(default=100, ge=1)
    depth_critical: int = Field(default=1000, ge=1)
    oldest_job_age_warning_seconds: float = Field(default=300, gt=0)
    oldest_job_age_critical_seconds: float = Field(default=1800, gt=0)
    failed_warning: int | None = Field(default=None, ge=1)
    require_workers: bool = True

    @model_validator(mode="after")
    def _ordered_and_unique(self) -> RqConfig:
        duplicates = sorted({q for q in self.queues if self.queues.count(q) > 1})
        if duplicates:
            raise ValueError(
                f"rq.queues: {', '.join(duplicates)} listed more than once; list each queue once"
            )
        check_order(
            "rq",
            [
                ("depth_warning", self.depth_warning, "depth_critical", self.depth_critical),
                (
                    "oldest_job_age_warning_seconds",
                    self.oldest_job_age_warning_seconds,
                    "oldest_job_age_critical_seconds",
                    self.oldest_job_age_critical_seconds,
                ),
            ],
        )
        return self


class TlsTarget(_Section):
    host: str
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None  # SNI and the name to match; defaults to host
    name: str | None = Field(default=None, pattern=NAME_PATTERN)

    @property
    def label(self) -> str:
        return self.name or f"{self.server_name or self.host}:{self.port}"


class TlsConfig(_Section):
    enabled: bool = True
    include_panel_url: bool = True  # check panel_url's host when it is https://
    targets: list[TlsTarget] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0)
    warning_days: float = Field(default=30, gt=0)
    critical_days: float = Field(default=7, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TlsConfig:
        # Fewer days left is worse: the warning comes first, at more days.
        check_order("tls", [("warning_days", self.warning_days, "critical_days", self.critical_days)], True)
        return self


class ResourcesConfig(_Section):
    enabled: bool = True
    disk_paths: list[Path] = Field(default_factory=lambda: [Path("/tmp")])  # noqa: S108
    cgroup_root: Path = Path("/sys/fs/cgroup")
    proc_root: Path = Path("/proc")
    cpu_sample_seconds: float = Field(default=0.5, gt=0, le=10)
    disk_warning_ratio: float = Field(default=0.9, gt=0, le=1)
    disk_critical_ratio: float = Field(default=0.95, gt=0, le=1)
    memory_warning_ratio: float = Field(default=0.9, gt=0, le=1)
    memory_critical_ratio: float = Field(default=0.95, gt=0, le=1)
    cpu_warning_ratio: float = Field(default=0.9, gt=0, le=1)
    cpu_critical_ratio: float = Field(default=0.95, gt=0, le=1)
    # Each measurement can be switched off, e.g. cpu on a host that is busy by design.
    measure: list[Measurement] = Field(default_factory=lambda: list(MEASUREMENTS))

    @model_validator(mode="after")
    def _ordered(self) -> ResourcesConfig:
        if len(set(self.measure)) != len(self.measure):
            raise ValueError("resources.measure: list each of disk, memory, cpu at most once")
        check_order(
            "resources",
            [
                (
                    "disk_warning_ratio",
                    self.disk_warning_ratio,
                    "disk_critical_ratio",
                    self.disk_critical_ratio,
                ),
                (
                    "memory_warning_ratio",
                    self.memory_warning_ratio,
                    "memory_critical_ratio",
                    self.memory_critical_ratio,
                ),
                ("cpu_warning_ratio", self.cpu_warning_ratio, "cpu_critical_ratio", self.cpu_critical_ratio),
            ],
        )
        return self


class LogSource(_Section):
    name: str = Field(pattern=NAME_PATTERN)
    path: Path  # a file, or a directory whose files matching `glob` are read
    glob: str = "*.log"


class LogsConfig(_Section):
    enabled: bool = True
    sources: list[LogSource] = Field(default_factory=list)
    window_seconds: float = Field(default=300, gt=0)
    max_bytes_per_file: int = Field(default=1_048_576, ge=1024)
    error_ratio_warning: float = Field(default=0.05, gt=0, le=1)
    error_ratio_critical: float = Field(default=0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LogsConfig:
        check_order(
            "logs",
            [
                (
                    "error_ratio_warning",
                    self.error_ratio_warning,
                    "error_ratio_critical",
                    self.error_ratio_critical,
                )
            ],
        )
        return self


class PerfConfig(_Section):
    targets: list[str] = Field(default_factory=lambda: ["health", "api"], min_length=1)
    requests: int = Field(default=200, ge=1, le=100_000)
    concurrency: int = Field(default=10, ge=1, le=1000)
    timeout_seconds: float = Field(default=10.0, gt=0)
    p50_warning_seconds: float = Field(default=0.25, gt=0)
    p50_critical_seconds: float = Field(default=1.0, gt=0)
    p95_warning_seconds: float = Field(default=0.5, gt=0)
    p95_critical_seconds: float = Field(default=2.0, gt=0)
    p99_warning_seconds: float = Field(default=1.0, gt=0)
    p99_critical_seconds: float = Field(default=5.0, gt=0)
    error_ratio_warning: float = Field(default=0.01, ge=0, le=1)
    error_ratio_critical: float = Field(default=0.05, ge=0, le=1)
    min_throughput_rps: float | None = Field(default=None, gt=0)
    # `serve` runs the probe in the background every interval_seconds and exports its last result.
    export: bool = False
    interval_seconds: float = Field(default=300, ge=10)

    @model_validator(mode="after")
    def _ordered(self) -> PerfConfig:
        check_order(
            "perf",
            [
                (
                    "p50_warning_seconds",
                    self.p50_warning_seconds,
                    "p50_critical_seconds",
                    self.p50_critical_seconds,
                ),
                (
                    "p95_warning_seconds",
                    self.p95_warning_seconds,
                    "p95_critical_seconds",
                    self.p95_critical_seconds,
                ),
                (
                    "p99_warning_seconds",
                    self.p99_warning_seconds,
                    "p99_critical_seconds",
                    self.p99_critical_seconds,
                ),
                (
                    "error_ratio_warning",
                    self.error_ratio_warning,
                    "error_ratio_critical",
                    self.error_ratio_critical,
                ),
            ],
        )
        return self


class HealthSettings(ServiceSettings):
    """Everything panel-health needs; see services/healthcheck/README.md for each setting."""

    model_config = SettingsConfigDict(extra="forbid", allow_inf_nan=False)

    config_file_variable: ClassVar[str | None] = CONFIG_ENV
    environment_fields: ClassVar[frozenset[str] | None] = frozenset(name.lower() for name in ENV_OVERRIDES)
    settings_docs: ClassVar[str] = "services/healthcheck/README.md"

    panel_url: str = "http://127.0.0.1:8000"
    # The public https:// address (the Ingress): what the TLS check measures when set (PANEL_PUBLIC_URL).
    panel_public_url: str | None = None
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    default_timeout_seconds: float = Field(default=5.0, gt=0)
    exporter: ExporterConfig = Field(default_factory=ExporterConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    postgres: PostgresConfig = Field(default_factory=PostgresConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    rq: RqConfig = Field(default_factory=RqConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    perf: PerfConfig = Field(default_factory=PerfConfig)

    @field_validator("panel_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_url(value, ("http", "https"), "http://panel:8000").rstrip("/")

    @field_validator("panel_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return check_url(value, ("https",), "https://panel.example.org").rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql://user:password@host:5432/dbname URL")
        # SQLAlchemy-style driver suffixes (postgresql+psycopg2://) mean nothing to libpq.
        plain = f"postgresql://{rest}"
        if "," not in rest.partition("/")[0]:  # libpq's multi-host form (h1:5432,h2:5432) is not one URL
            check_url(plain, ("postgresql",), "postgresql://user:password@host:5432/dbname")
        return SecretStr(plain)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value(), ("redis", "rediss", "unix"), "redis://host:6379/0")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> HealthSettings:
        # Names become metric label values; duplicates would make two series collide.
        groups = {
            "http.targets": [t.name for t in self.http.targets],
            "tls.targets": [t.label for t in self.tls.targets],
            "logs.sources": [s.name for s in self.logs.sources],
        }
        for where, names in groups.items():
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                names_text = ", ".join(duplicates)
                raise ValueError(f"{where}: duplicate name(s) {names_text}; give each a unique name")
        return self

    def http_targets(self) -> list[HttpTarget]:
        """The configured HTTP targets, with the panel's three defaults unless overridden by name."""
        targets = list(self.http.targets)
        if self.http.include_panel_defaults:
            own = {t.name for t in targets}
            targets = [t for t in _panel_default_targets() if t.name not in own] + targets
        return targets

    def target_url(self, target: HttpTarget) -> str:
        return target.url if target.url is not None else f"{self.panel_url}{target.path}"

    def timeout_for(self, own: float | None) -> float:
        return own if own is not None else self.default_timeout_seconds


def load_settings(config_path: str | Path | None = None) -> HealthSettings:
    """Load and validate the settings; raise ConfigError with one line per problem."""
    return load(HealthSettings, config_file=config_path)
