"""Build the list of runnable checks from the settings (and an optional selection)."""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

from panel_health.checks.base import Check
from panel_health.checks.http_check import check_http
from panel_health.checks.logs_check import check_logs
from panel_health.checks.postgres_check import check_postgres
from panel_health.checks.redis_check import check_redis
from panel_health.checks.resources_check import CpuSampler, check_resources
from panel_health.checks.rq_check import check_rq
from panel_health.checks.tls_check import check_tls
from panel_health.settings import ConfigError, HealthSettings, TlsTarget

KINDS = ("http", "postgres", "redis", "rq", "tls", "resources", "logs")


def _tls_targets(settings: HealthSettings) -> list[TlsTarget]:
    """The configured targets, plus the panel's public certificate as target ``panel``.

    That is PANEL_PUBLIC_URL's host when set (the Ingress: in a cluster, panel_url is the in-cluster
    HTTP Service and has no certificate), else panel_url's when it is https://.
    """
    targets = list(settings.tls.targets)
    public = settings.panel_public_url or (
        settings.panel_url if settings.panel_url.startswith("https://") else None
    )
    if settings.tls.include_panel_url and public:
        parts = urlsplit(public)
        if parts.hostname:
            targets.insert(0, TlsTarget(name="panel", host=parts.hostname, port=parts.port or 443))
    return targets


def build_checks(
    settings: HealthSettings, selection: tuple[str, ...] = (), sampler: CpuSampler | None = None
) -> list[Check]:
    """All enabled, configured checks, or only those named in ``selection`` (``kind`` or ``kind:target``).

    Raises ConfigError when a selected check is not configured, so a pipeline never passes by checking
    nothing.
    """
    checks: list[Check] = []
    if settings.http.enabled:
        for target in settings.http_targets():
            timeout = settings.timeout_for(target.timeout_seconds)
            run = partial(check_http, target, settings.target_url(target))
            checks.append(Check("http", target.name, timeout, lambda t, run=run: run(t), "target"))
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    if settings.postgres.enabled and database_url:
        timeout = settings.timeout_for(settings.postgres.timeout_seconds)
        checks.append(
            Check("postgres", "", timeout, partial(check_postgres, database_url, settings.postgres))
        )
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    if settings.redis.enabled and redis_url:
        timeout = settings.timeout_for(settings.redis.timeout_seconds)
        checks.append(Check("redis", "", timeout, partial(check_redis, redis_url, settings.redis)))
    if settings.rq.enabled and redis_url:
        timeout = settings.timeout_for(settings.rq.timeout_seconds)
        checks.append(Check("rq", "", timeout, partial(check_rq, redis_url, settings.rq)))
    if settings.tls.enabled:
        timeout = settings.timeout_for(settings.tls.timeout_seconds)
        for tls_target in _tls_targets(settings):
            run_tls = partial(check_tls, tls_target, settings.tls)
            checks.append(Check("tls", tls_target.label, timeout, run_tls, "target"))
    if settings.resources.enabled:
        cpu = sampler or CpuSampler(settings.resources)
        checks.append(
            Check(
                "resources",
                "",
                settings.default_timeout_seconds,
                partial(check_resources, settings.resources, cpu),
            )
        )
    if settings.logs.enabled:
        for source in settings.logs.sources:
            run_logs = partial(check_logs, source, settings.logs)
            checks.append(Check("logs", source.name, settings.default_timeout_seconds, run_logs, "source"))
    return select(checks, selection)


def select(checks: list[Check], selection: tuple[str, ...]) -> list[Check]:
    if not selection:
        return checks
    chosen: list[Check] = []
    problems: list[str] = []
    for wanted in selection:
        matches = [c for c in checks if wanted in (c.kind, c.key)]
        if not matches:
            kind = wanted.partition(":")[0]
            hint = {
                "postgres": "set DATABASE_URL (or DATABASE_URL_FILE)",
                "redis": "set REDIS_URL (or REDIS_URL_FILE)",
                "rq": "set REDIS_URL (or REDIS_URL_FILE)",
                "tls": "add tls.targets or use an https:// PANEL_URL",
                "logs": "add logs.sources to the config file",
            }.get(kind, f"choose from: {', '.join(sorted({c.key for c in checks})) or 'none configured'}")
            problems.append(f"--check {wanted}: no such check is configured; {hint}")
        chosen += [c for c in matches if c not in chosen]
    if problems:
        raise ConfigError(problems)
    return chosen
