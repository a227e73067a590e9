"""A real panel for any suite: `panel migrate`, an admin account, `panel web` (gunicorn) and optionally
`panel worker` (RQ) and companions such as the health exporter, as the image runs them.

Everything runs against the session's PostgreSQL and Redis (tests/conftest.py) on free loopback ports,
waits until it is ready (not a fixed sleep), keeps each process's output in its own log file, and on
stop verifies that no process it started (gunicorn's workers and RQ's work-horses included) is left.

    def test_x(start_panel):                      # fixture: a factory, everything stopped at teardown
        panel = start_panel(worker=True, env={"LOG_LEVEL": "DEBUG"})
        httpx.get(f"{panel.url}/readyz")

    with running_panel(database_url, redis_url, work_dir) as panel:   # module-scoped setups
        ...

While a panel runs, a failing test's report gets a "panel logs" section with the tail of each log
(the `pytest_runtest_makereport` hook below, registered in tests/conftest.py).

Metrics: the panel serves Prometheus metrics on a separate listener whose port comes from METRICS_PORT
(contract C2). The web and the worker each get their own free port (both run on this one host);
`metrics_url` / `worker_metrics_url` are where to scrape them. When the installed panel knows the
setting (`metrics_port_supported()`), readiness also waits for those listeners.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from rq import Worker

from support.servers import PostgresServer, RedisServer, free_port

# Every process the harness starts carries this variable (value: one id per panel), inherited by
# every child. After a stop, a process still carrying it was left behind, whatever its process group.
MARKER = "PANEL_TEST_HARNESS_ID"
# Panels currently running (id -> panel), for the failure-report hook.
_RUNNING_PANELS: dict[int, RunningPanel] = {}
LOG_TAIL_LINES = 60
READY_TIMEOUT = 180.0  # imports and migrations on two busy shared cores; never a measure of speed
STOP_TIMEOUT = 30.0
# Variables the processes inherit from the test run; everything else is set here, so a developer's
# DATABASE_URL or SECRET_KEY_FILE can never reach a test panel.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


@functools.cache
def metrics_port_supported() -> bool:
    """Whether the installed panel reads METRICS_PORT (issue 12); imported lazily, so that a suite
    that never starts a panel never imports it."""
    from panel.settings import Settings

    return "metrics_port" in Settings.model_fields


class PanelStartError(RuntimeError):
    """The panel did not start; the message holds the tail of every log."""


@dataclass
class ManagedProcess:
    """One long-running process in its own process group, its output in ``log_path``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[], bool] | None = None  # extra readiness condition (e.g. a port answers)
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: a stop reaches gunicorn's and RQ's children
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM to the process group (as Kubernetes stops a pod), SIGKILL after ``timeout``.

        Returns the exit code (negative: the signal that ended it).
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Children that ignored SIGTERM after their parent exited (a work-horse, a gunicorn worker).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        wait_for_group_exit(self.process.pid)
        self.exit_code = self.process.returncode
        return self.exit_code

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Companion:
    """A process started beside the panel once it is ready (e.g. the health exporter).

    ``make(panel)`` returns the companion's argv and extra environment; ``ready(panel)`` (optional)
    says when it is up; ``port`` (optional) is published as ``panel.companion_ports[name]``.
    """

    name: str
    make: Callable[[RunningPanel], tuple[list[str], dict[str, str]]]
    ready: Callable[[RunningPanel], bool] | None = None
    port: int | None = None


@dataclass
class RunningPanel:
    url: str
    port: int
    metrics_port: int
    worker_metrics_port: int | None
    admin_username: str
    admin_password: str
    database_url: str
    redis_url: str
    work_dir: Path
    env: dict[str, str]  # the environment every panel process got (run more commands with it)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    companion_ports: dict[str, int] = field(default_factory=dict)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    stop_timeout: float = STOP_TIMEOUT  # per process: SIGTERM, then SIGKILL after this long

    @property
    def metrics_dir(self) -> Path:
        return Path(self.env["PROMETHEUS_MULTIPROC_DIR"])

    @property
    def metrics_url(self) -> str:
        """The web's Prometheus endpoint (its own listener, METRICS_PORT)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def worker_metrics_url(self) -> str | None:
        if self.worker_metrics_port is None:
            return None
        return f"http://127.0.0.1:{self.worker_metrics_port}/metrics"

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run another `panel` command with the panel's environment (e.g. `create-admin`)."""
        done = subprocess.run(
            [sys.executable, "-m", "panel.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise PanelStartError(
                f"`panel {' '.join(args)}` exited {done.returncode}:\n{done.stderr[-4000:]}"
            )
        return done

    def token(self) -> str:
        """An access token for the admin account."""
        response = httpx.post(
            f"{self.url}/api/v2/auth/token",
            json={"username": self.admin_username, "password": self.admin_password},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def logs(self, lines: int = LOG_TAIL_LINES) -> str:
        """The tail of every process's log, each under its name."""
        parts = [
            f"--- {name} ({proc.log_path}) ---\n{proc.tail(lines)}" for name, proc in self.processes.items()
        ]
        return "\n".join(parts)

    def leftover_processes(self) -> list[str]:
        """``pid: command`` of every process still carrying this panel's marker."""
        return [f"{pid}: {cmd}" for pid, cmd in processes_with(MARKER, self.env[MARKER])]

    def stop(self) -> dict[str, int | None]:
        """Stop companions, the worker, then the web; verify nothing is left. Returns the exit codes.

        Raises AssertionError (after killing them) when a process outlived the stop.
        """
        _RUNNING_PANELS.pop(id(self), None)
        for name in reversed(list(self.processes)):
            if name not in self.exit_codes:
                self.exit_codes[name] = self.processes[name].stop(self.stop_timeout)
        left = self.leftover_processes()
        if left:
            for pid, _ in processes_with(MARKER, self.env[MARKER]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError("processes outlived the panel's stop (now killed):\n" + "\n".join(left))
        return dict(self.exit_codes)


# A zombie (Z) or dead (X) process has finished exiting: its files are closed; its parent reaps it.
EXITED_STATES = ("Z", "X")


def proc_stat(entry: Path) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ... (raises OSError once it is gone)."""
    return (entry / "stat").read_text().rsplit(")", 1)[1].split()


def living_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that have not finished exiting."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = proc_stat(entry)
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in EXITED_STATES:
            members.append(int(entry.name))
    return members


def wait_for_group_exit(pgid: int, timeout: float = 10.0) -> None:
    """Wait until every process of the group is gone or a zombie: SIGKILL is sent at once, but a
    process killed while frozen (SIGSTOP) or in a system call exits a moment later."""
    deadline = time.monotonic() + timeout
    while living_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def processes_with(name: str, value: str) -> list[tuple[int, str]]:
    """Processes whose initial environment holds ``name=value`` (read from /proc, as root or owner).

    Any test that starts processes can mark them (e.g. `panel stack` in tests/panel/test_stack.py
    with ``MARKER``) and prove afterwards that none outlived the stop."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if wanted in environ:
                if proc_stat(entry)[0] in EXITED_STATES:
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), cmd.strip()))
        except OSError:
            continue  # exited meanwhile, or not ours to read
    return found


def _base_env(
    database_url: str, redis_url: str, work_dir: Path, port: int, metrics_port: int, web_concurrency: int
) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(
        {
            MARKER: uuid.uuid4().hex,
            "PANEL_ENV": "testing",
            "PANEL_URL": f"http://127.0.0.1:{port}",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_hex(32),
            "JWT_SECRET": secrets.token_hex(32),
            "WEB_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(web_concurrency),
            "METRICS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(work_dir / "metrics"),
            "UPLOADS_DIR": str(work_dir / "uploads"),
            "CHECK_INTERVAL_SECONDS": "0",  # no periodic check-all unless a test asks for one
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",  # log lines reach the file before a crash, not after
        }
    )
    return env


def _answers(url: str, expect: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == expect
    except httpx.HTTPError:
        return False


def _workers_registered(redis_url: str) -> bool:
    connection = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return len(Worker.all(connection=connection)) > 0
    except redis.RedisError:
        return False
    finally:
        connection.close()


def _wait(panel: RunningPanel, what: str, condition: Callable[[], bool], deadline: float) -> None:
    while not condition():
        dead = [name for name, proc in panel.processes.items() if not proc.running()]
        if dead:
            codes = {name: panel.processes[name].process.poll() for name in dead}  # type: ignore[union-attr]
            raise PanelStartError(f"{', '.join(dead)} exited (codes {codes}) before {what}:\n{panel.logs()}")
        if time.monotonic() > deadline:
            raise PanelStartError(f"not ready within {READY_TIMEOUT:.0f} s: {what}:\n{panel.logs()}")
        time.sleep(0.2)


@contextlib.contextmanager
def running_panel(
    database_url: str,
    redis_url: str,
    work_dir: Path,
    *,
    worker: bool = True,
    web_concurrency: int = 1,
    admin: bool = True,
    env: Mapping[str, str] | None = None,
    companions: Sequence[Companion] = (),
    migrate: bool = True,
    stop_timeout: float = STOP_TIMEOUT,
) -> Iterator[RunningPanel]:
    """Start a panel; stop it (verified) when the block ends. ``env`` overrides any variable."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port, metrics_port = free_port(), free_port()
    worker_metrics_port = free_port() if worker else None
    process_env = {
        **_base_env(database_url, redis_url, work_dir, port, metrics_port, web_concurrency),
        **(env or {}),
    }
    panel = RunningPanel(
        url=f"http://127.0.0.1:{port}",
        port=port,
        metrics_port=metrics_port,
        worker_metrics_port=worker_metrics_port,
        admin_username="admin",
        admin_password=secrets.token_urlsafe(18),
        database_url=database_url,
        redis_url=redis_url,
        work_dir=work_dir,
        env=process_env,
        stop_timeout=stop_timeout,
    )
    _RUNNING_PANELS[id(panel)] = panel
    try:
        if migrate:
            panel.run("migrate")
        if admin:
            password_file = work_dir / "admin-password"
            password_file.write_text(panel.admin_password + "\n")
            password_file.chmod(0o600)
            panel.run(
                "create-admin", "--username", panel.admin_username, "--password-file", str(password_file)
            )
        deadline = time.monotonic() + READY_TIMEOUT
        _start(panel, "web", ["web"], process_env)
        if worker:
            assert worker_metrics_port is not None
            _start(panel, "worker", ["worker"], {**process_env, "METRICS_PORT": str(worker_metrics_port)})
        _wait(panel, f"GET {panel.url}/readyz answers 200", lambda: _answers(f"{panel.url}/readyz"), deadline)
        if worker:
            _wait(panel, "an RQ worker registered in Redis", lambda: _workers_registered(redis_url), deadline)
        if metrics_port_supported():
            _wait(
                panel, f"GET {panel.metrics_url} answers 200", lambda: _answers(panel.metrics_url), deadline
            )
            if panel.worker_metrics_url is not None:
                url = panel.worker_metrics_url
                _wait(panel, f"GET {url} answers 200", lambda: _answers(url), deadline)
        for companion in companions:
            argv, extra = companion.make(panel)
            if companion.port is not None:
                panel.companion_ports[companion.name] = companion.port
            proc = ManagedProcess(
                companion.name, argv, {**process_env, **extra}, work_dir / f"{companion.name}.log"
            )
            panel.processes[companion.name] = proc
            proc.start()
            if companion.ready is not None:
                _wait(panel, f"{companion.name} ready", functools.partial(companion.ready, panel), deadline)
    except BaseException:
        with contextlib.suppress(AssertionError):
            panel.stop()
        raise
    try:
        yield panel
    finally:
        panel.stop()


def _start(panel: RunningPanel, name: str, args: list[str], env: dict[str, str]) -> None:
    proc = ManagedProcess(
        name, [sys.executable, "-m", "panel.cli", *args], env, panel.work_dir / f"{name}.log"
    )
    panel.processes[name] = proc
    proc.start()


def health_exporter(config: Mapping[str, Any] | None = None) -> Companion:
    """`panel-health serve` against the panel, on a free loopback port; ready when /healthz answers.

    ``config`` is merged into the YAML file the exporter reads (PANEL_HEALTH_CONFIG).
    """
    port = free_port()

    def make(panel: RunningPanel) -> tuple[list[str], dict[str, str]]:
        settings = {"exporter": {"listen_host": "127.0.0.1", "port": port}, **(config or {})}
        path = panel.work_dir / "health.yaml"
        path.write_text(yaml.safe_dump(settings))
        argv = [sys.executable, "-m", "panel_health", "serve"]
        return argv, {"PANEL_HEALTH_CONFIG": str(path), "PANEL_URL": panel.url}

    return Companion(
        name="exporter",
        make=make,
        ready=lambda panel: _answers(f"http://127.0.0.1:{port}/healthz"),
        port=port,
    )


# --- pytest wiring (imported by tests/conftest.py) ----------------------------------------------


@pytest.fixture
def start_panel(
    postgres_server: PostgresServer, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., RunningPanel]]:
    """A factory: ``start_panel(**options)`` starts a panel on a fresh database of the session's
    PostgreSQL and its own Redis database number; every panel is stopped (verified) at teardown.
    Options are `running_panel`'s (worker, web_concurrency, admin, env, companions, migrate,
    stop_timeout).

    Depends on ``redis_url`` so that its FLUSHALL has happened before any panel starts, whatever
    order a test lists its fixtures in."""
    stack = contextlib.ExitStack()
    databases: list[str] = []
    count = 0

    def start(**options: Any) -> RunningPanel:
        nonlocal count
        count += 1
        database = postgres_server.create_database()
        databases.append(database)
        redis_db = 1 + (count % 15)  # 0 is the suites' redis_url; each panel a database of its own
        redis_lib = redis.Redis.from_url(redis_server.url(redis_db))
        redis_lib.flushdb()
        redis_lib.close()
        return stack.enter_context(
            running_panel(
                postgres_server.url(database),
                redis_server.url(redis_db),
                tmp_path / f"panel-{count}",
                **options,
            )
        )

    try:
        yield start
    finally:
        try:
            stack.close()
        finally:
            for database in databases:
                postgres_server.drop_database(database)


@pytest.fixture
def real_panel(start_panel: Callable[..., RunningPanel]) -> RunningPanel:
    """A panel with web, worker and an admin account (the common case)."""
    return start_panel()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report gets the tail of every running panel's logs."""
    report = yield
    if report.failed and _RUNNING_PANELS:
        for panel in list(_RUNNING_PANELS.values()):
            report.sections.append((f"panel logs ({panel.url})", panel.logs()))
    return report
