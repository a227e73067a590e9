"""The ``panel-health`` command line."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from panel_health.checks import KINDS, build_checks
from panel_health.logging_setup import configure_logging
from panel_health.perf import run_perf
from panel_health.report import overall, print_human, print_json
from panel_health.results import CheckResult
from panel_health.runner import run_checks
from panel_health.settings import CONFIG_ENV, ConfigError, HealthSettings, load_settings

EXIT_CODES = """\b
Exit codes (Nagios convention, understood by most CI and monitoring tools):
  0  ok        every check passed
  1  warning   something crossed a warning threshold
  2  critical  a dependency is down or crossed a critical threshold
               (also: bad usage or an invalid configuration)
  3  unknown   a check could not tell (e.g. unreadable files)"""


def _load(config_path: str | None) -> HealthSettings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        _config_exit(exc)


def _config_exit(exc: ConfigError) -> None:
    for problem in exc.problems:
        click.echo(f"panel-health: configuration error: {problem}", err=True)
    sys.exit(2)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=f"Configuration: the YAML file in ${CONFIG_ENV} (or --config), overridden by PANEL_URL, "
    "DATABASE_URL and REDIS_URL (each also as *_FILE holding the value). See services/healthcheck/README.md.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"YAML settings file (default: ${CONFIG_ENV}; without either, built-in defaults).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="JSON logs on stderr (default: INFO for serve, WARNING for check).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_level: str | None) -> None:
    """Health of the panel stack, for Prometheus (serve) and for humans and pipelines (check)."""
    ctx.obj = {"config_path": config_path, "log_level": log_level}


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: exporter.listen_host, 0.0.0.0).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: exporter.port, 9117)."
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the Prometheus exporter: /metrics runs every check at scrape time, /healthz is liveness.

    \b
    Each scrape's checks share one deadline: Prometheus's X-Prometheus-Scrape-Timeout-Seconds header
    minus exporter.scrape_timeout_margin_seconds. A check that has not answered by then is reported
    as panel_health_<check>_up 0 with panel_health_check_down_reason{reason="deadline_exceeded"}.

    With perf.export: true the performance probe (see `check perf`) runs in the background every
    perf.interval_seconds (default 300) and /metrics reports its last result (panel_health_perf_*).
    """
    configure_logging(ctx.obj["log_level"] or "INFO")
    settings = _load(ctx.obj["config_path"])
    from panel_health.exporter import serve as run_server

    try:
        run_server(settings, host or settings.exporter.listen_host, port or settings.exporter.port)
    except OSError as exc:
        click.echo(f"panel-health: cannot listen ({exc.strerror}); choose another --port or --host", err=True)
        sys.exit(2)
    except ConfigError as exc:
        _config_exit(exc)


@main.command(epilog=EXIT_CODES)
@click.argument("mode", type=click.Choice(["health", "perf", "all"]), default="health")
@click.option(
    "--check",
    "selection",
    multiple=True,
    metavar="NAME",
    help=f"Run only this check: a kind ({', '.join(KINDS)}) or kind:target (e.g. http:api). Repeatable.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["human", "json"]),
    default="human",
    help="human: a table (coloured on a terminal); json: an application/health+json document.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds all health checks together may take; later ones are reported as down.",
)
@click.pass_context
def check(
    ctx: click.Context, mode: str, selection: tuple[str, ...], output_format: str, deadline: float
) -> None:
    """Run the checks once and report; the exit code tells the verdict.

    \b
    MODE  health  every configured check (HTTP, PostgreSQL, Redis, RQ, TLS, resources, logs)
          perf    perf.requests requests, perf.concurrency at a time, against perf.targets;
                  p50/p95/p99, error ratio and throughput against the perf.* thresholds
          all     both
    \b
    Examples:
      panel-health check                         # everything, as a table
      panel-health check --check postgres --check http:health
      panel-health check all --format json > health.json
    """
    configure_logging(ctx.obj["log_level"] or "WARNING")
    settings = _load(ctx.obj["config_path"])
    results: list[CheckResult] = []
    try:
        if mode in ("health", "all"):
            checks = build_checks(settings, selection)
            if not checks:
                raise ConfigError(["nothing to check: enable checks in the config or set PANEL_URL etc."])
            results += run_checks(checks, deadline)
        elif selection:
            raise ConfigError(["--check selects health checks; it cannot be combined with mode perf"])
        if mode in ("perf", "all"):
            results.append(run_perf(settings))
    except ConfigError as exc:
        _config_exit(exc)
    if output_format == "json":
        print_json(results, mode)
    else:
        # Colour only on a terminal (rich decides); a wide fixed width keeps piped output one row per line.
        print_human(results, Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    sys.exit(int(overall(results)))
