"""The panel image: migrate, web (/livez, /readyz; /metrics on METRICS_PORT) and a job processed by the
worker."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
from image_podman import PanelStack, image_ref, run, wait_for_http


def test_web_answers_the_operations_endpoints(panel_stack: PanelStack) -> None:
    assert httpx.get(f"{panel_stack.url}/livez", timeout=10).status_code == 200
    ready = httpx.get(f"{panel_stack.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"http://127.0.0.1:{panel_stack.env['METRICS_PORT']}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text and "panel" in metrics.text
    assert httpx.get(f"{panel_stack.url}/metrics", timeout=10).status_code == 404  # not on the app port


def test_the_image_declares_the_app_and_metrics_ports(built_images: None) -> None:
    # EXPOSE is what `docker run -P`, podman and scanners read: the metrics listener (METRICS_PORT, default
    # 9102, contract C2) is a port of the image as much as the app's 8000.
    exposed = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{json .Config.ExposedPorts}}", image_ref("panel")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(json.loads(exposed)) == {"8000/tcp", "9102/tcp"}, exposed


def test_worker_serves_metrics_on_its_own_port(panel_stack: PanelStack) -> None:
    metrics = wait_for_http(f"http://127.0.0.1:{panel_stack.worker_metrics_port}/metrics", panel_stack.worker)
    assert "# TYPE" in metrics.text and "panel_" in metrics.text


def test_web_runs_as_uid_10001_on_a_read_only_root(panel_stack: PanelStack) -> None:
    assert panel_stack.web.inspect("{{.Config.User}}") == "10001:10001"
    assert panel_stack.web.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    assert panel_stack.web.inspect("{{.HostConfig.CapDrop}}").strip("[]") != ""


def test_migrate_again_is_a_no_op(panel_stack: PanelStack) -> None:
    again = run("panel", "migrate", env=panel_stack.env)
    assert again.returncode == 0, again.output


def test_worker_processes_a_check_job(panel_stack: PanelStack) -> None:
    headers = {"Authorization": f"Bearer {panel_stack.token()}"}
    created = httpx.post(
        f"{panel_stack.url}/api/v2/servers",
        json={"name": "panel-itself", "address": "127.0.0.1", "port": panel_stack.port, "protocol": "http"},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    queued = httpx.post(
        f"{panel_stack.url}/api/v2/servers/{created.json()['id']}/check", headers=headers, timeout=30
    )
    assert queued.status_code == 202, queued.text
    job_url = f"{panel_stack.url}/api/v2/jobs/{queued.json()['job_id']}"
    # A bound on waiting, not a speed assertion: the job either finishes or the worker is broken.
    deadline = time.monotonic() + 120
    while True:
        job = httpx.get(job_url, headers=headers, timeout=30).json()
        if job["status"] in ("finished", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["status"] == "finished", f"{job}\n--- worker logs\n{panel_stack.worker.logs()}"


def test_bad_configuration_exits_2_without_a_traceback(built_images: None) -> None:
    result = run("panel", "migrate", env={"DATABASE_URL": "not-a-url"})
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.stderr
