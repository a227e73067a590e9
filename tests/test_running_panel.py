"""tests/support/running_panel.py: one harness starts a real panel for every suite, and stops it whole."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from support.running_panel import (
    EXITED_STATES,
    Companion,
    PanelStartError,
    RunningPanel,
    health_exporter,
    metrics_port_supported,
    proc_stat,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
REPO = Path(__file__).resolve().parents[1]


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def port_released(port: int, within: float = 5.0) -> bool:
    """Whether ``port`` refuses connections within ``within`` seconds.

    After SIGKILL the kernel closes a dead process's listening socket a moment later: a connect in
    that moment is accepted and then reset (seen in CI). Stopping must free the port, not instantly.
    """
    deadline = time.monotonic() + within
    while listening(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_real_panel_serves_signs_in_runs_jobs_and_stops_whole(real_panel: RunningPanel) -> None:
    panel = real_panel
    assert httpx.get(f"{panel.url}/readyz", timeout=30).status_code == 200
    headers = {"Authorization": f"Bearer {panel.token()}"}
    created = httpx.post(
        f"{panel.url}/api/v2/servers",
        json={"name": "harness-1", "address": "127.0.0.1", "port": panel.port, "protocol": "tcp"},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    queued = httpx.post(
        f"{panel.url}/api/v2/servers/{created.json()['id']}/check", headers=headers, timeout=30
    )
    assert queued.status_code == 202, queued.text
    deadline = time.monotonic() + 120
    while True:  # the worker runs the check: the panel's own port is up
        job = httpx.get(
            f"{panel.url}/api/v2/jobs/{queued.json()['job_id']}", headers=headers, timeout=30
        ).json()
        if job["status"] in ("finished", "failed"):
            break
        assert time.monotonic() < deadline, f"the worker never ran the check: {job}\n{panel.logs()}"
        time.sleep(0.3)
    assert job["status"] == "finished", job

    # Each process got its own metrics port (C2: METRICS_PORT); the two never collide on one host.
    web, worker = panel.processes["web"], panel.processes["worker"]
    assert environ_of(web.pid)["METRICS_PORT"] == str(panel.metrics_port)
    assert environ_of(worker.pid)["METRICS_PORT"] == str(panel.worker_metrics_port)
    assert len({panel.port, panel.metrics_port, panel.worker_metrics_port}) == 3
    if metrics_port_supported():
        assert "panel_http_requests_total" in httpx.get(panel.metrics_url, timeout=30).text
        assert httpx.get(f"{panel.url}/metrics", timeout=30).status_code == 404
    else:  # until issue 12 lands the app port still serves them
        assert "panel_http_requests_total" in httpx.get(f"{panel.url}/metrics", timeout=30).text

    # No developer variable leaks in: the panel's settings come from the harness alone.
    assert "SECRET_KEY_FILE" not in environ_of(web.pid)

    codes = panel.stop()
    assert codes == {"web": 0, "worker": 0}, panel.logs()
    assert panel.leftover_processes() == []
    assert not listening(panel.port)


def test_gunicorn_workers_and_a_companion_are_all_stopped(start_panel: Callable[..., RunningPanel]) -> None:
    panel = start_panel(worker=False, web_concurrency=2, companions=[health_exporter()])
    exporter = panel.companion_ports["exporter"]
    scrape = httpx.get(f"http://127.0.0.1:{exporter}/metrics", timeout=60)
    assert scrape.status_code == 200
    assert 'panel_health_http_up{target="health"} 1.0' in scrape.text, scrape.text[:2000]
    assert "panel_health_postgres_up 1.0" in scrape.text
    gunicorn_workers = subprocess.run(
        ["pgrep", "-P", str(panel.processes["web"].pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(gunicorn_workers) == 2
    assert panel.stop() == {"exporter": 0, "web": 0}
    assert panel.leftover_processes() == []
    for pid in gunicorn_workers:
        assert not Path(f"/proc/{pid}").exists() or proc_stat(Path(f"/proc/{pid}"))[0] in EXITED_STATES


def test_two_panels_at_once_a_frozen_web_and_a_killed_worker(
    start_panel: Callable[..., RunningPanel],
) -> None:
    first = start_panel(stop_timeout=5)
    second = start_panel(worker=False)
    assert len({first.port, first.metrics_port, second.port, second.metrics_port}) == 4
    assert first.database_url != second.database_url and first.redis_url != second.redis_url

    os.killpg(first.processes["web"].pid, signal.SIGSTOP)  # frozen: SIGTERM waits, SIGKILL ends it
    os.kill(first.processes["worker"].pid, signal.SIGKILL)  # died mid-run
    assert first.stop() == {"worker": -signal.SIGKILL, "web": -signal.SIGKILL}
    assert first.leftover_processes() == []
    assert port_released(first.port)

    assert httpx.get(f"{second.url}/readyz", timeout=30).status_code == 200  # the other never noticed
    assert second.stop() == {"web": 0}


def test_a_process_that_escapes_its_group_is_found_killed_and_reported(
    start_panel: Callable[..., RunningPanel],
) -> None:
    # A companion that leaves a grandchild in a session of its own, ignoring SIGTERM; ready once the
    # grandchild has escaped (it writes a file then).
    escape = (
        "import os, pathlib, signal, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    pathlib.Path(sys.argv[1]).write_text('escaped'); time.sleep(600)\n"
        "time.sleep(600)\n"
    )
    companion = Companion(
        name="escaper",
        make=lambda panel: ([sys.executable, "-c", escape, str(panel.work_dir / "escaped")], {}),
        ready=lambda panel: (panel.work_dir / "escaped").exists(),
    )
    panel = start_panel(worker=False, admin=False, companions=[companion])
    with pytest.raises(
        AssertionError, match=r"processes outlived the panel's stop \(now killed\):\n\d+: .*python"
    ):
        panel.stop()
    deadline = time.monotonic() + 30
    while panel.leftover_processes():
        assert time.monotonic() < deadline, panel.leftover_processes()
        time.sleep(0.1)


def test_a_panel_that_cannot_start_says_why_and_leaves_nothing(
    start_panel: Callable[..., RunningPanel],
) -> None:
    with pytest.raises(PanelStartError, match=r"(?s)`panel migrate` exited 2:.*WEB_CONCURRENCY"):
        start_panel(env={"WEB_CONCURRENCY": "0"})

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        with pytest.raises(PanelStartError) as caught:
            start_panel(worker=False, env={"WEB_BIND": f"127.0.0.1:{port}"})
    finally:
        taken.close()
    message = str(caught.value)
    assert "web exited" in message and "--- web (" in message
    assert "Address already in use" in message, message[-3000:]
    leftovers = subprocess.run(
        ["pgrep", "-f", "panel.gunicorn_config"], capture_output=True, text=True
    ).stdout
    for pid in leftovers.split():
        assert environ_of(int(pid)).get("WEB_BIND") != f"127.0.0.1:{port}"


def test_a_failing_test_report_carries_the_panel_logs(tmp_path: Path) -> None:
    # A separate pytest run whose conftest is the suites' own (fixtures and the report hook).
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util

            path = {str(REPO / "tests" / "conftest.py")!r}
            spec = importlib.util.spec_from_file_location("suites_conftest", path)
            suites = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(suites)
            globals().update({{k: v for k, v in vars(suites).items() if not k.startswith("__")}})
            """
        )
    )
    test_file = tmp_path / "test_fails_with_panel.py"
    test_file.write_text(
        textwrap.dedent(
            """
            def test_fails(real_panel):
                assert real_panel.url == "nowhere"
            """
        )
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "panel logs (http://127.0.0.1:" in done.stdout, done.stdout[-3000:]
    assert "--- web (" in done.stdout and "--- worker (" in done.stdout
