"""``panel-loadtest``: run the panel's Locust scenarios with an SLO verdict as the exit code."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path
from types import FrameType

import click

from panel_loadtest.gate import EXIT_ABORTED, EXIT_SLO_BREACHED
from panel_loadtest.scenarios import ScenarioError, load_scenario, packaged_scenario_names
from panel_loadtest.settings import SettingsError, load_settings

EXIT_USAGE = 2
DEFAULT_MASTER_PORT = 5557


def packaged_locustfile() -> Path:
    return Path(str(resources.files("panel_loadtest") / "locustfile.py"))


def packaged_shape_addon() -> Path:
    return Path(str(resources.files("panel_loadtest") / "scenario_shape.py"))


SHAPE_MODULES = ("panel_loadtest.locustfile", "panel_loadtest.scenario_shape")


def defines_load_shape(path: Path) -> bool:
    """Whether a locustfile brings its own LoadTestShape: a class deriving from one, or an import of the
    packaged locustfile (or any name ending in Shape). Read without importing it (Locust must not be
    imported here). An unreadable file counts as having one: Locust then reports its own error.
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name.endswith("Shape"):
                    return True
        elif isinstance(node, ast.ImportFrom):
            if node.module in SHAPE_MODULES and any(a.name == "*" for a in node.names):
                return True
            if any(a.name.endswith("Shape") and a.name != "LoadTestShape" for a in node.names):
                return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fail_usage(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Load-test the panel with Locust and turn the result into a pass/fail verdict.

    \b
    Configuration comes from the environment (the same variables in every process):
      PANEL_URL                 the panel to test (default http://127.0.0.1:8000)
      LOADTEST_USERNAME         an existing admin account (default admin) that creates
                                the operator and viewer test accounts through the API
      LOADTEST_PASSWORD[_FILE]  its password (required)
      LOADTEST_SCENARIO, LOADTEST_DURATION_SCALE, LOADTEST_REPORT_DIR   as the options below
      LOADTEST_MAX_AVG_MS=500 LOADTEST_MAX_P95_MS=1000 LOADTEST_MAX_P99_MS=2000
      LOADTEST_MAX_ERROR_RATE=0.01 LOADTEST_MIN_RPS=100 LOADTEST_MIN_RPS_USERS=50
      LOADTEST_STRESS_MIN_USERS=50 LOADTEST_MAX_SUCCESS_GAP_S=10          SLO thresholds
      LOADTEST_MAX_REQUEST_MS=10000 (slower counts as failed) LOADTEST_REQUEST_TIMEOUT=30
      LOADTEST_WEIGHT_ADMIN=1 LOADTEST_WEIGHT_OPERATOR=3 LOADTEST_WEIGHT_VIEWER=6

    \b
    Exit codes: 0 SLO met, 99 an SLO threshold was breached (the message says which and by
    how much), 2 configuration problem or the run could not start, 1 Locust itself failed.
    """


@main.command()
@click.option(
    "--scenario",
    envvar="LOADTEST_SCENARIO",
    default="smoke",
    show_default=True,
    help="Packaged scenario (smoke, load, stress, spike, endurance) or a YAML file path.",
)
@click.option(
    "--host",
    envvar="PANEL_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of the panel under test.",
)
@click.option(
    "--duration-scale",
    envvar="LOADTEST_DURATION_SCALE",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply every scenario duration, e.g. 0.1 for a short CI run of the same shape.",
)
@click.option(
    "--report-dir",
    envvar="LOADTEST_REPORT_DIR",
    type=click.Path(path_type=Path),
    default=Path("loadtest-reports"),
    show_default=True,
    help="Where summary.json, junit.xml, report.html and the CSV files go.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Run distributed on this machine: one master plus this many worker processes.",
)
@click.option(
    "--role",
    type=click.Choice(["standalone", "master", "worker"]),
    default="standalone",
    show_default=True,
    help="For clusters: run only the master or only a worker.",
)
@click.option(
    "--expect-workers",
    envvar="LOADTEST_EXPECT_WORKERS",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="(--role master) start once this many workers have connected.",
)
@click.option(
    "--master-host",
    envvar="LOADTEST_MASTER_HOST",
    default="127.0.0.1",
    show_default=True,
    help="(--role worker) the master's address.",
)
@click.option(
    "--master-port",
    envvar="LOADTEST_MASTER_PORT",
    type=int,
    default=DEFAULT_MASTER_PORT,
    show_default=True,
    help="The master's port for workers.",
)
@click.option(
    "--locustfile",
    envvar="LOADTEST_LOCUSTFILE",
    type=click.Path(path_type=Path),
    default=None,
    help="Use another locustfile instead of the packaged one.",
)
@click.option(
    "--tags",
    multiple=True,
    help="Only run tasks with these tags (read, write, v1, v2, cache, "
    "etag, search, paginate, jobs, dashboard, oauth, admin). Repeatable.",
)
@click.option(
    "--exclude-tags",
    multiple=True,
    envvar="LOADTEST_EXCLUDE_TAGS",
    help="Skip tasks with these tags. Repeatable; LOADTEST_EXCLUDE_TAGS takes them space-separated.",
)
@click.option(
    "--web-ui", is_flag=True, help="Interactive: serve Locust's web UI on :8089 instead of running headless."
)
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def run(
    scenario: str,
    host: str,
    duration_scale: float,
    report_dir: Path,
    workers: int,
    role: str,
    expect_workers: int,
    master_host: str,
    master_port: int,
    locustfile: Path | None,
    tags: tuple[str, ...],
    exclude_tags: tuple[str, ...],
    web_ui: bool,
    locust_args: tuple[str, ...],
) -> None:
    """Run a scenario against the panel and exit with the SLO verdict.

    \b
    Examples:
      panel-loadtest run --scenario smoke
      panel-loadtest run --scenario load --workers 2 --duration-scale 0.2
      panel-loadtest run --role master --expect-workers 3      # in a cluster Job
      panel-loadtest run --role worker --master-host loadtest-master
      panel-loadtest run --scenario smoke -- --loglevel DEBUG   # extra Locust options

    Passwords are read from the environment only, never from the command line.
    """
    env = dict(os.environ)
    env.update(
        {
            "PANEL_URL": host,
            "LOADTEST_SCENARIO": scenario,
            "LOADTEST_DURATION_SCALE": str(duration_scale),
            "LOADTEST_REPORT_DIR": str(report_dir.resolve()),
            "LOADTEST_LOG_FORMAT": env.get("LOADTEST_LOG_FORMAT", "json"),
        }
    )
    problems = _validate(env)
    locustfile = locustfile or packaged_locustfile()
    if not locustfile.is_file():
        problems.append(f"--locustfile / LOADTEST_LOCUSTFILE {locustfile} does not exist")
    if workers and role != "standalone":
        problems.append("--workers starts local workers; it cannot be combined with --role master/worker")
    if not problems and role != "worker":
        problems += _check_writable(report_dir)
    if problems:
        _fail_usage(problems)

    locustfiles = str(locustfile)
    if locustfile != packaged_locustfile() and not defines_load_shape(locustfile):
        # Without a LoadTestShape Locust ignores the scenario and, headless, runs until stopped.
        locustfiles += f",{packaged_shape_addon()}"
        plan = load_scenario(scenario).scaled(duration_scale)
        click.echo(
            f"note: {locustfile} defines no LoadTestShape; its users run the {plan.name} scenario's "
            f"stages ({plan.total_duration:g} s, up to {plan.peak_users} users) under the SLO gate",
            err=True,
        )
    base = [sys.executable, "-m", "locust", "-f", locustfiles, "--skip-log-setup"]
    for flag, values in (("--tags", tags), ("--exclude-tags", exclude_tags)):
        if values:
            base += [flag, *values]
    driver = [
        *base,
        "--host",
        host,
        "--html",
        str(report_dir / "report.html"),
        "--csv",
        str(report_dir / "locust"),
    ]
    driver += ["--web-port", "8089"] if web_ui else ["--headless"]

    commands: list[list[str]]
    if role == "worker":
        commands = [[*base, "--worker", "--master-host", master_host, "--master-port", str(master_port)]]
    elif role == "master":
        commands = [
            [
                *driver,
                "--master",
                "--master-bind-port",
                str(master_port),
                "--expect-workers",
                str(expect_workers),
                "--expect-workers-max-wait",
                "300",
            ]
        ]
    elif workers:
        port = _free_port()
        commands = [
            [
                *driver,
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(workers),
                "--expect-workers-max-wait",
                "60",
            ]
        ]
        commands += [[*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]] * workers
    else:
        commands = [driver]
    commands[0] += list(locust_args)
    code = _run_processes(commands, env)
    if role != "worker":
        _record_exit_code(report_dir, code)
    sys.exit(code)


EXIT_MEANINGS = {
    0: "the SLO was met",
    EXIT_SLO_BREACHED: "an SLO threshold was breached",
    EXIT_USAGE: "a configuration problem, or the run could not start",
    1: "Locust itself failed",
}


def _record_exit_code(report_dir: Path, code: int) -> None:
    """Leave the code in the report directory and say it in words: wrappers such as make only exit 0/2."""
    meaning = EXIT_MEANINGS.get(code, "Locust ended abnormally")
    with contextlib.suppress(OSError):
        (report_dir / "exit-code").write_text(f"{code}\n")
    if code != 0:
        click.echo(f"panel-loadtest exited with {code}: {meaning}", err=True)


def _check_writable(report_dir: Path) -> list[str]:
    """The report directory must be creatable and writable before minutes of load are spent."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe = report_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return [
            f"--report-dir / LOADTEST_REPORT_DIR {report_dir} is not writable ({exc.strerror}); "
            "point it at a writable directory (in a container: under /tmp or a mounted volume)"
        ]
    return []


def _validate(env: dict[str, str]) -> list[str]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings, _ = load_settings()
        settings.admin_password()
        load_scenario(settings.scenario)
    except SettingsError as exc:
        return exc.problems
    except ScenarioError as exc:
        return [str(exc)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return []


def _run_processes(commands: list[list[str]], env: dict[str, str]) -> int:
    """Start the processes, forward SIGTERM/SIGINT to them, and return the first one's exit code."""
    processes = [subprocess.Popen(command, env=env) for command in commands]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = processes[0].wait()
    for process in processes[1:]:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
    return code


@main.command()
def scenarios() -> None:
    """List the packaged scenarios with their planned length."""
    for name in packaged_scenario_names():
        scenario = load_scenario(name)
        minutes = scenario.total_duration / 60
        length = f"up to {minutes:.0f} min" if scenario.kind == "stress" else f"{minutes:.0f} min"
        click.echo(f"{name:<10} {length:<14} peak {scenario.peak_users:>3} users  {scenario.description}")


@main.command("locustfile-path")
def locustfile_path() -> None:
    """Print the packaged locustfile's path (to run Locust directly, or copy it as a starting point)."""
    click.echo(str(packaged_locustfile()))


__all__ = ["EXIT_ABORTED", "EXIT_SLO_BREACHED", "main"]
