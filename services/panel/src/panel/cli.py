"""``panel``: run and operate the panel (web, worker, migrations, first admin, local stack)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from panel import logs
from panel.settings import Settings, SettingsError, load_settings

log = logging.getLogger("panel.cli")
WORKER_REDIS_TIMEOUT_SECONDS = 5.0


def _settings() -> Settings:
    """The settings, or exit 2 with one line per configuration problem (never a traceback)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        click.echo("error: invalid configuration:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    logs.configure(settings.log_level)
    return settings


def _ensure_sqlite_dir(settings: Settings) -> None:
    prefix = "sqlite:///"
    if settings.database_url.startswith(prefix) and settings.database_url != "sqlite:///:memory:":
        Path(settings.database_url.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Panel: register servers, see their status, trigger checks.

    Configuration comes from the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, JWT_SECRET,
    PANEL_URL, ...); every secret can also be given as a file path in <NAME>_FILE.
    Run `panel check-config` to validate it.
    """
    # Every process that counts something (web, worker and its job children, one-off commands) writes
    # its samples into PROMETHEUS_MULTIPROC_DIR when it is set; a fresh emptyDir or tmpfs has no such
    # folder yet, and a missing folder makes every metric write raise FileNotFoundError.
    # Not by importing panel.metrics here: a metric without labels opens its file as soon as it is
    # defined, and `web`/`worker` first drop a previous run's files (_prepare_metrics_dir), which would
    # leave that metric writing to a deleted file that never reaches /metrics.
    if multiproc_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(multiproc_dir, exist_ok=True)


@main.command("check-config")
def check_config() -> None:
    """Validate the configuration and print a summary (without secrets). Exit 2 when invalid."""
    settings = _settings()
    from sqlalchemy.engine import make_url

    db_url = make_url(settings.database_url)
    click.echo("configuration OK")
    click.echo(f"  environment: {settings.panel_env}")
    click.echo(f"  public URL:  {settings.panel_url}")
    click.echo(f"  database:    {db_url.render_as_string(hide_password=True)}")
    click.echo(f"  web:         {settings.web_bind}, {settings.web_concurrency} worker(s)")
    oidc = f"enabled ({settings.resolved_oidc_issuer})" if settings.oidc_enabled else "off"
    click.echo(f"  OIDC login:  {oidc}")


@main.command()
@click.option(
    "--wait-for-database",
    "wait_seconds",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the database to accept connections before migrating (a Job that starts "
    "together with its database); 0 fails at once.",
)
def migrate(wait_seconds: float) -> None:
    """Apply every pending database migration (the web process never does this itself).

    A database already ahead of this image (migrated by a newer release, e.g. during a rollback) is left
    as it is: migrations are expand/contract, so its schema still serves this image. Exit 0.
    """
    settings = _settings()
    _ensure_sqlite_dir(settings)
    from panel import schema
    from panel.db import make_engine

    engine = make_engine(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one summary line below, not one per step
    try:
        _wait_for_database(engine, wait_seconds)
        before = schema.state(engine)
        if before.standing is schema.Standing.AHEAD:
            click.echo(f"nothing to do: {before.describe()}")
            return
        schema.upgrade(engine)
        click.echo(f"database schema at revision {schema.current_revision(engine)} (newest)")
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        click.echo(
            f"error: cannot migrate the database: {type(exc).__name__}: {reason}",
            err=True,
        )
        sys.exit(1)
    finally:
        engine.dispose()


@main.command("wait-for-schema")
@click.option(
    "--timeout", default=300.0, show_default=True, help="Seconds to wait before giving up (exit 1)."
)
@click.option("--interval", default=2.0, show_default=True, help="Seconds between checks.")
def wait_for_schema(timeout: float, interval: float) -> None:
    """Block until the database's schema serves this image: at its newest migration, or ahead of it.

    For containers that start alongside the migration job: they wait here instead of crashing. A schema
    ahead of this image (a newer release migrated it) serves it too: migrations are expand/contract.
    """
    settings = _settings()
    from panel import schema
    from panel.db import make_engine

    engine = make_engine(settings)
    deadline = time.monotonic() + timeout
    last_state = ""
    try:
        while True:
            try:
                found = schema.state(engine)
                if found.standing.serves_this_image:
                    click.echo(f"schema ready: {found.describe()}")
                    return
                state = f"{found.describe()}; waiting for `panel migrate`"
            except SQLAlchemyError as exc:
                state = f"database unreachable ({type(exc).__name__})"
            if state != last_state:
                click.echo(f"waiting: {state}", err=True)
                last_state = state
            if time.monotonic() >= deadline:
                click.echo(f"error: gave up after {timeout:g}s: {state}", err=True)
                sys.exit(1)
            time.sleep(interval)
    finally:
        engine.dispose()


@main.command("create-admin")
@click.option("--username", default="admin", show_default=True)
@click.option("--email", default=None, help="Optional e-mail address.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the password from this file (first line). Passwords are never taken from arguments.",
)
@click.option("--prompt-password", is_flag=True, help="Ask for the password on the terminal.")
@click.option("--if-missing", is_flag=True, help="Succeed quietly when the user already exists.")
def create_admin(
    username: str, email: str | None, password_file: Path | None, prompt_password: bool, if_missing: bool
) -> None:
    """Create an admin user. Without --password-file or --prompt-password, a strong password is
    generated and printed once."""
    settings = _settings()

    from panel import audit
    from panel.app import create_app
    from panel.auth.passwords import hash_password
    from panel.extensions import db
    from panel.models import Role, User
    from panel.validation import USERNAME_PATTERN

    if not re.fullmatch(USERNAME_PATTERN, username):
        raise click.UsageError("--username: use letters, digits and . _ @ - (at most 64 characters)")
    generated = False
    if password_file is not None:
        try:
            password = password_file.read_text().splitlines()[0] if password_file.read_text() else ""
        except OSError as exc:
            raise click.UsageError(f"--password-file: cannot read {password_file} ({exc.strerror})") from None
    elif prompt_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password, generated = secrets.token_urlsafe(18), True
    from panel import password_policy

    weak = password_policy.problems(password, username)
    if weak:
        raise click.UsageError(f"the password is not acceptable: {'; '.join(weak)}")

    app = create_app(settings)
    with app.app_context():
        session = db()
        try:
            if session.scalar(select(User).where(User.username == username)) is not None:
                if if_missing:
                    return
                click.echo(f"error: a user named {username!r} already exists", err=True)
                sys.exit(1)
            user = User(
                username=username, email=email, role=Role.ADMIN.value, password_hash=hash_password(password)
            )
            session.add(user)
            session.flush()
            audit.record(
                session,
                "user.create",
                "user",
                user.id,
                changes={"username": username, "role": "admin", "via": "cli"},
            )
            session.commit()
        except SQLAlchemyError as exc:
            click.echo(
                f"error: cannot create the user ({type(exc).__name__}); has `panel migrate` run?", err=True
            )
            sys.exit(1)
    click.echo(f"created admin user {username!r}")
    if generated:
        click.echo(f"  username: {username}")
        click.echo(f"  password: {password}")
        click.echo("  (shown once: store it now)")


@main.command("openapi")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def openapi_document(file: Path | None) -> None:
    """Write API v2's OpenAPI document (generated from the code) to FILE, or to stdout.

    Reads no configuration and connects to nothing. The checked-in copy is regenerated with
    `panel openapi services/panel/openapi-v2.json` (tests/panel fails when it drifts).
    """
    from panel.api.openapi import build, rendered
    from panel.app import create_app

    secret = "openapi-document-only-" + "x" * 32
    settings = load_settings(
        environ={},
        panel_env="testing",
        database_url="sqlite://",
        redis_url="redis://127.0.0.1:1/0",
        secret_key=secret,
        jwt_secret=secret[::-1],
        metrics_port=0,
    )
    text = rendered(build(create_app(settings)))
    if file is None:
        click.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {file}: {exc.strerror}; name a file in an existing folder", err=True)
        sys.exit(2)


@main.command()
def web() -> NoReturn:
    """Serve the panel with gunicorn (WEB_CONCURRENCY workers, WEB_BIND address).

    Sets up PROMETHEUS_MULTIPROC_DIR (default: a folder under /tmp) so that /metrics adds up
    every worker's numbers. Does not migrate: run `panel migrate` first.
    """
    _settings()  # fail fast with a clear message instead of in every worker
    _prepare_metrics_dir("panel-metrics")
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:panel.gunicorn_config", "panel.wsgi:app"]
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn


@main.command()
@click.option(
    "--burst", is_flag=True, help="Work until the queues are empty, then exit (for tests and one-offs)."
)
def worker(burst: bool) -> None:
    """Run the RQ worker with its scheduler and check engine (periodic checks every CHECK_INTERVAL_SECONDS).

    One process: jobs run in it (no fork per job), "Check now" (queue panel-high) before anything on
    queue panel, and check-all rounds run on the engine beside them. SIGTERM or Ctrl-C stops it
    gracefully: the current job finishes, a running round is marked interrupted (the next round
    checks every server again).
    """
    settings = _settings()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # else one process: the default registry suffices
        _prepare_metrics_dir("panel-worker-metrics")
    import redis
    from rq import SimpleWorker

    from panel import jobs, metrics
    from panel.app import create_app
    from panel.checks import engine
    from panel.extensions import resources

    _raise_open_files_limit(settings.check_concurrency)
    # Jobs wait for no user: a slow Redis (a busy node) must not fail a round; web requests keep
    # their short REDIS_TIMEOUT_SECONDS.
    timeout = max(settings.redis_timeout_seconds, WORKER_REDIS_TIMEOUT_SECONDS)
    app = create_app(settings.model_copy(update={"redis_timeout_seconds": timeout}))
    with app.app_context():
        res = resources()
        if not burst:
            jobs.ensure_periodic(res.redis, settings.check_interval_seconds)
            metrics.serve(settings.metrics_port, settings.metrics_address)
        # RQ gets a connection of its own: it raises the socket timeout of its connection to fit
        # its blocking dequeue, and the app's client must keep its short REDIS_TIMEOUT_SECONDS.
        rq_connection = redis.Redis.from_url(settings.redis_url, health_check_interval=30)
        _wait_for_redis(rq_connection)
        rq_worker = SimpleWorker(jobs.worker_queues(rq_connection), connection=rq_connection)
        try:
            rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
            if burst:  # a burst run ends when its rounds have stored their results
                engine.wait_all()
        finally:
            engine.stop_all()


def _prepare_metrics_dir(default_name: str) -> None:
    """Create PROMETHEUS_MULTIPROC_DIR (default: /tmp/<default_name>) and drop a previous run's files,
    which would otherwise be added to this run's counters."""
    metrics_dir = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(tempfile.gettempdir()) / default_name
    )
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def _wait_for_database(engine: Any, timeout: float) -> None:
    """Wait up to `timeout` seconds until the database accepts a connection; past that, the caller's own
    attempt fails with its usual one-line error. A database that is still starting (its name not yet in
    DNS, its port not yet open) is not an error for a Job that starts together with it."""
    deadline = time.monotonic() + timeout
    said = False
    while time.monotonic() < deadline:
        try:
            with engine.connect():
                return
        except SQLAlchemyError as exc:
            if not said:
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                click.echo(f"waiting up to {timeout:g}s for the database: {reason}", err=True)
                said = True
            time.sleep(1.0)


def _wait_for_redis(connection: Any, timeout: float = 120.0) -> None:
    """Wait for Redis at start instead of dying with a traceback; exit 1 with one line if it never comes."""
    import redis

    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() >= deadline:
                click.echo(
                    f"error: Redis did not answer within {timeout:g}s ({type(exc).__name__}); "
                    "check REDIS_URL and that Redis runs",
                    err=True,
                )
                sys.exit(1)
            if not said:
                log.warning("waiting for Redis", extra={"error": type(exc).__name__})
                said = True
            time.sleep(1.0)


def _raise_open_files_limit(concurrency: int) -> None:
    """Each probe in flight holds a socket: lift the soft open-files limit toward the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = concurrency * 2 + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning(
                "open-files limit below what CHECK_CONCURRENCY needs",
                extra={"limit": target, "needed": wanted},
            )


@main.command()
@click.option("--port", default=8000, show_default=True, help="Port for the web server (127.0.0.1).")
@click.option("--var-dir", default="var", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def stack(port: int, var_dir: Path) -> None:
    """Run everything locally on embedded defaults (what `make up` runs).

    SQLite under ./var, a private redis-server on a free port, generated secrets kept in ./var
    (mode 0600), migrations, an admin user (credentials printed once), then web + worker
    (+ panel-health and panel-backup schedule when installed). Ctrl-C stops every process.
    """
    from panel.stack import run_stack

    sys.exit(run_stack(port, var_dir.resolve()))


if __name__ == "__main__":
    main()
