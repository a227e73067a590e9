"""`panel migrate --wait-for-database`: the chart's migration Job starts together with the bundled
database, whose name resolves and whose port opens only some seconds later. On a real node the Job's
first attempt failed ("could not translate host name", then "Connection refused") and only a retry
migrated; waiting makes the first attempt the one that migrates."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

from panel import schema
from panel.db import make_engine
from panel.settings import load_settings
from sqlalchemy.engine import make_url
from support.servers import free_port


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def forwarding(port: int, upstream: tuple[str, int]) -> Iterator[None]:
    """From now on 127.0.0.1:port forwards each connection to `upstream` (the database's port opens)."""
    stop = threading.Event()
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            backend = socket.create_connection(upstream)
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        server.close()


def _migrate(database_url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panel.cli", "migrate", *args],
        env={**os.environ, **env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_waits_for_a_database_that_is_still_starting(
    postgres_database: str, make_settings_env: dict[str, str]
) -> None:
    real = make_url(postgres_database)
    port = free_port()  # nothing listens there until the migration says it waits
    late_url = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    migrating = subprocess.Popen(
        [sys.executable, "-m", "panel.cli", "migrate", "--wait-for-database", "60"],
        env={**os.environ, **make_settings_env, "DATABASE_URL": late_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert migrating.stderr is not None
    waiting = migrating.stderr.readline()
    assert waiting.startswith("waiting up to 60s for the database: "), waiting
    with forwarding(port, (real.host or "127.0.0.1", real.port or 5432)):
        stdout, stderr = migrating.communicate(timeout=120)
    assert migrating.returncode == 0, waiting + stderr
    assert "schema at revision" in stdout
    assert "Traceback" not in stderr
    engine = make_engine(load_settings(environ={}, database_url=postgres_database))
    assert schema.state(engine).standing is schema.Standing.CURRENT
    engine.dispose()


def test_migrate_without_waiting_fails_at_once_with_one_line(
    postgres_database: str, make_settings_env: dict[str, str]
) -> None:
    closed = make_url(postgres_database).set(host="127.0.0.1", port=free_port())
    result = _migrate(closed.render_as_string(hide_password=False), make_settings_env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: cannot migrate the database: OperationalError"), result.stderr
    assert "Traceback" not in result.stderr


def test_waiting_ends_with_the_usual_error_when_the_database_never_comes(
    postgres_database: str, make_settings_env: dict[str, str]
) -> None:
    closed = make_url(postgres_database).set(host="127.0.0.1", port=free_port())
    result = _migrate(
        closed.render_as_string(hide_password=False), make_settings_env, "--wait-for-database", "2"
    )
    assert result.returncode == 1, result.stderr
    assert "error: cannot migrate the database: OperationalError" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
