"""``panel stack``: the whole panel on one machine with embedded defaults (``make up``).

SQLite and a private redis-server keep it dependency-free; honcho supervises the processes, so
Ctrl-C stops all of them together.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import click


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _secret_file(path: Path) -> Path:
    """A random secret generated on first start and kept (mode 0600) so sessions survive restarts."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    path.chmod(0o600)
    return path


def _redis_binary() -> str | None:
    binary = shutil.which("redis-server")
    if binary:
        return binary
    if os.geteuid() != 0:
        click.echo(
            "error: redis-server is not installed.\n"
            "fix:   sudo apt-get install -y redis-server   (then run `make up` again)",
            err=True,
        )
        return None
    click.echo("==> installing redis-server with apt-get (running as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=False, env=env)
    if result.returncode != 0:
        click.echo("error: apt-get could not install redis-server; install it and retry", err=True)
        return None
    return shutil.which("redis-server")


def _start_redis(binary: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        # Its own session: Ctrl-C reaches the panel's processes first; Redis stops after them.
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.terminate()
    raise click.ClickException(f"redis-server did not start on port {port}")


def _companion(command: str) -> str:
    """A companion that cannot run on these defaults reports why, without stopping the panel."""
    note = f"{command.split()[0]} exited; the panel keeps running without it"
    return f"sh -c {shlex.quote(f'{command}; echo {shlex.quote(note)} >&2; exec sleep infinity')}"


def _backup_env(env: dict[str, str], var_dir: Path) -> bool:
    """Local backups to ./var/backups, encrypted to an age key generated once into ./var."""
    env.setdefault("BACKUP_TARGET", f"file://{var_dir / 'backups'}")
    identity = var_dir / "backup-age-identity.txt"
    if not identity.exists():
        keygen = subprocess.run(
            ["panel-backup", "keygen", "--output", str(identity)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if keygen.returncode != 0:
            click.echo(
                f"note: scheduled backups are off (panel-backup keygen failed: {keygen.stderr.strip()})"
            )
            return False
    env.setdefault("BACKUP_AGE_IDENTITY_FILE", str(identity))
    return True


def metrics_env(env: dict[str, str], process: str, port: int) -> dict[str, str]:
    """Each panel process its own metrics port and multiprocess folder (web's start clears its own)."""
    return {
        **env,
        "METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(Path(env["UPLOADS_DIR"]).parent / "metrics" / process),
    }


def _panel(*args: str) -> list[str]:
    return [sys.executable, "-m", "panel.cli", *args]


class _SafeOutput:
    """stdout for honcho that survives a closed pipe (``make up | tee log``, then Ctrl-C kills tee):
    output is dropped from then on, and honcho goes on to stop every process instead of dying with
    BrokenPipeError and leaving them running."""

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream

    def write(self, text: str) -> int:
        if self._stream is not None:
            try:
                self._stream.write(text)
            except (BrokenPipeError, OSError, ValueError):
                self._closed()
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._closed()

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def _closed(self) -> None:
        self._stream = None
        # Python would report the broken stdout again at exit; point it somewhere harmless.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run_stack(port: int, var_dir: Path) -> int:
    from honcho.manager import Manager
    from honcho.printer import Printer

    if not _port_free(port):
        click.echo(f"error: port {port} is in use; stop what uses it or pass --port", err=True)
        return 2
    # Everything the stack writes under ./var (the database with password hashes, its WAL, backups,
    # keys) is for this user only.
    os.umask(0o077)
    var_dir.mkdir(parents=True, exist_ok=True)
    binary = _redis_binary()
    if binary is None:
        return 1
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PANEL_ENV": os.environ.get("PANEL_ENV", "development"),
        "PANEL_URL": url,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        "DATABASE_URL": f"sqlite:///{var_dir / 'panel.db'}",
        "SECRET_KEY_FILE": str(_secret_file(var_dir / "secret_key")),
        "JWT_SECRET_FILE": str(_secret_file(var_dir / "jwt_secret")),
        "UPLOADS_DIR": str(var_dir / "uploads"),
        "METRICS_ADDRESS": "127.0.0.1",
    }
    for name in ("SECRET_KEY", "JWT_SECRET", "DATABASE_URL_FILE", "REDIS_URL_FILE"):
        env.pop(name, None)

    redis_process, redis_port = _start_redis(binary, var_dir / "redis")
    env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    try:
        if subprocess.run(_panel("migrate"), env=env, check=False).returncode != 0:
            return 1
        admin = subprocess.run(
            _panel("create-admin", "--if-missing"), env=env, check=False, capture_output=True, text=True
        )
        if admin.returncode != 0:
            click.echo(admin.stderr, err=True)
            return 1
        processes = {
            "web": shlex.join(_panel("web")),
            "worker": shlex.join(_panel("worker")),
        }
        # Companions from the other packages of this repository, when installed.
        if shutil.which("panel-health"):
            processes["health"] = _companion("panel-health serve --host 127.0.0.1")
        if shutil.which("panel-backup") and _backup_env(env, var_dir):
            processes["backup"] = _companion("panel-backup schedule")
        (var_dir / "Procfile").write_text("".join(f"{name}: {cmd}\n" for name, cmd in processes.items()))

        click.echo("")
        click.echo(f"Panel is starting at {url}  (Ctrl-C stops everything)")
        if admin.stdout.strip():
            click.echo(admin.stdout.rstrip())
        else:
            click.echo("  sign in with the admin credentials printed at the first start")
            click.echo(
                "  (lost them? while this runs, in another terminal: "
                f"DATABASE_URL={env['DATABASE_URL']} REDIS_URL={env['REDIS_URL']} "
                "uv run --frozen panel create-admin --username admin2)"
            )
        metrics_ports = (_free_port(), _free_port())
        click.echo(f"  data: {var_dir}  redis: 127.0.0.1:{redis_port}")
        click.echo(
            f"  metrics: web http://127.0.0.1:{metrics_ports[0]}/metrics, "
            f"worker http://127.0.0.1:{metrics_ports[1]}/metrics"
        )
        click.echo("")

        # The exporter's PostgreSQL check does not apply to the embedded SQLite database.
        envs = {name: env for name in processes}
        envs["health"] = {k: v for k, v in env.items() if k != "DATABASE_URL"}
        envs["web"], envs["worker"] = (
            metrics_env(env, "web", metrics_ports[0]),
            metrics_env(env, "worker", metrics_ports[1]),
        )
        manager = Manager(printer=Printer(_SafeOutput(sys.stdout)))
        for name, command in processes.items():
            manager.add_process(name, command, env=envs[name])
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        redis_process.terminate()
        try:
            redis_process.wait(10)
        except subprocess.TimeoutExpired:
            redis_process.kill()
