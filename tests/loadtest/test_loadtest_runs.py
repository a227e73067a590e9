"""Whole Locust runs (in subprocesses) against the contract server: reports, gate, roles, workers.

The contract server enforces the roles and records every write and every 403, so these tests
can tell which account did what. test_real_panel.py repeats the key checks on the real panel.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_server import ContractServer
from loadtest_helpers import ADMIN_PASSWORD, UNTIMED_THRESHOLDS, RunResult, run_cli
from support.servers import free_port

SHORT = ["--duration-scale", "0.1"]  # smoke: 6 s


def stats_rows(report_dir: Path) -> list[dict[str, str]]:
    with (report_dir / "locust_stats.csv").open() as handle:
        return [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]


def summary(report_dir: Path) -> dict:
    return json.loads((report_dir / "summary.json").read_text())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ContractServer, RunResult]]:
    """One short smoke run shared by the tests that only read its results."""
    report_dir = tmp_path_factory.mktemp("smoke") / "reports"
    with ContractServer(ADMIN_PASSWORD) as server:
        env = {"PANEL_URL": server.url, "LOADTEST_PASSWORD": ADMIN_PASSWORD, **UNTIMED_THRESHOLDS}
        yield server, run_cli(["run", "--report-dir", str(report_dir), *SHORT], env, report_dir)


def test_smoke_passes_and_writes_every_report(smoke: tuple[ContractServer, RunResult]) -> None:
    _, result = smoke
    assert result.returncode == 0, result.output
    assert "SLO gate passed" in result.stdout
    reports = result.report_dir
    for name in ("summary.json", "junit.xml", "report.html", "locust_stats.csv", "locust_failures.csv"):
        assert (reports / name).is_file(), name
    data = summary(reports)
    totals = data["totals"]
    assert totals["requests"] > 10 and totals["failures"] == 0
    assert 0 < totals["avg_ms"] <= totals["p99_ms"] and totals["p95_ms"] <= totals["p99_ms"]
    assert data["steady"]["users"] == 3 and data["steady"]["rps"] > 0
    assert data["behaviour"]["counts"]["cache_hit"] > 0
    assert data["gate"]["passed"] is True
    junit = ET.parse(reports / "junit.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    assert junit is not None and junit.get("failures") == "0" and junit.get("errors") == "0"
    assert "<html" in (reports / "report.html").read_text()[:2000].lower()
    # The HTML a person opens carries the verdict: a row per threshold with limit, measured and result.
    page = (reports / "report.html").read_text()
    assert "SLO verdict (smoke): PASSED, exit code 0" in page
    assert re.search(r"<td>error_rate</td><td>1%?[^<]*</td><td>0[^<]*</td><td[^>]*>passed</td>", page), page[
        :0
    ]
    assert re.search(r"<td>success_gap</td><td>[^<]+ s</td><td>[^<]+ s</td><td[^>]*>passed</td>", page)


def test_each_role_only_does_what_it_may(smoke: tuple[ContractServer, RunResult]) -> None:
    server, result = smoke
    assert result.returncode == 0, result.output
    state = server.state
    assert state.forbidden == [], "no user class may attempt what its role forbids (403s)"
    writers = {username for username, _, _ in state.writes}
    assert "loadtest-viewer" not in writers
    assert writers <= {"admin", "loadtest-operator"}
    rows = stats_rows(result.report_dir)
    viewer = {(r["Type"], r["Name"]) for r in rows if r["Name"].startswith("[viewer]")}
    assert viewer, "the viewer ran"
    assert {method for method, _ in viewer} <= {"GET", "POST"}
    # A viewer's only POSTs are logins (JWT and the dashboard form).
    assert {name for method, name in viewer if method == "POST"} <= {
        "[viewer] /api/v2/auth/token",
        "[viewer] /api/v2/auth/refresh",
        "[viewer] /login",
    }
    assert not any(
        "/api/v2/users" in r["Name"] or "/api/v2/audit" in r["Name"]
        for r in rows
        if not r["Name"].startswith("[admin]")
    )
    # Statistics are grouped by route, never one row per server id or job id.
    assert not [r["Name"] for r in rows if re.search(r"/(\d+|[0-9a-f]{16})(/|$|\?)", r["Name"])]


def test_a_wrong_admin_password_stops_before_any_load(contract_server: ContractServer, run_loadtest) -> None:
    result = run_loadtest(
        contract_server.url, *SHORT, password="not-the-password", LOADTEST_PRINT_SUMMARY="1"
    )
    assert result.returncode == 2
    assert '"aborted": "the panel refused to log in' in result.stdout, (
        "the summary is printed for kubectl logs"
    )
    assert "the panel refused to log in LOADTEST_USERNAME='admin'" in result.stdout
    assert "not-the-password" not in result.output
    assert contract_server.state.writes == []
    assert summary(result.report_dir)["gate"]["aborted"]


def test_distributed_over_local_workers_merges_their_counters(
    contract_server: ContractServer, run_loadtest
) -> None:
    result = run_loadtest(contract_server.url, "--workers", "2", "--duration-scale", "0.05")
    assert result.returncode == 0, result.output
    data = summary(result.report_dir)
    assert data["totals"]["requests"] > 10
    counts = data["behaviour"]["counts"]
    assert counts.get("cache_hit", 0) + counts.get("cache_miss", 0) > 0, "worker counters reached the master"


def test_stress_reports_the_last_passing_user_count(
    contract_server: ContractServer, run_loadtest, tmp_path: Path
) -> None:
    # Steps of 4 s: the shape ticks once a second, so a step's settled window starts at its first tick
    # past the settle fraction; 2 s steps left a one-second window, which one user's think time and a
    # slow request could leave empty ("no requests completed": a false break, seen once in CI).
    scenario = tmp_path / "mini-stress.yaml"
    scenario.write_text(
        "name: mini-stress\nkind: stress\n"
        "stress: {start_users: 1, step_users: 1, step_duration: 4, max_users: 2, spawn_rate: 10,"
        " settle_fraction: 0.25}\n"
        "judge: [requests, stress_capacity]\n"
    )
    passed = run_loadtest(
        contract_server.url,
        "--scenario",
        str(scenario),
        LOADTEST_STRESS_MIN_USERS="2",
        LOADTEST_WEIGHT_ADMIN="0",
        LOADTEST_WEIGHT_OPERATOR="0",
    )
    assert passed.returncode == 0, passed.output
    stress = summary(passed.report_dir)["stress"]
    assert stress["last_passing_users"] == 2 and stress["breaking_users"] is None
    # A latency bound nothing can meet: the first step breaks, and the message says by how much.
    broke = run_loadtest(
        contract_server.url,
        "--scenario",
        str(scenario),
        LOADTEST_MAX_AVG_MS="0.001",
        LOADTEST_WEIGHT_ADMIN="0",
        LOADTEST_WEIGHT_OPERATOR="0",
    )
    assert broke.returncode == 99, broke.output
    assert "held the SLO only up to 0 users (broke at 1 users); needed 50" in broke.stdout


def test_cluster_roles_master_and_worker_as_separate_processes(
    contract_server: ContractServer, tmp_path: Path
) -> None:
    """The commands the chart's master and worker Jobs run: the master's exit code is the verdict."""
    port = str(free_port())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")},
        **UNTIMED_THRESHOLDS,
        "PANEL_URL": contract_server.url,
        "LOADTEST_PASSWORD": ADMIN_PASSWORD,
        "LOADTEST_MASTER_PORT": port,
        "LOADTEST_DURATION_SCALE": "0.05",
    }
    cli = [sys.executable, "-m", "panel_loadtest", "run"]
    report_dir = tmp_path / "reports"
    worker = subprocess.Popen(
        [*cli, "--role", "worker", "--master-host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        master = subprocess.run(
            [*cli, "--role", "master", "--expect-workers", "1", "--report-dir", str(report_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert master.returncode == 0, master.stdout + master.stderr
        assert "SLO gate passed" in master.stdout
        assert worker.wait(timeout=60) == 0, "workers end cleanly when the master quits"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    data = summary(report_dir)
    assert data["totals"]["requests"] > 0 and data["totals"]["failures"] == 0


def test_oauth_tasks_stand_down_when_the_panel_has_no_sso(
    contract_server: ContractServer, run_loadtest
) -> None:
    contract_server.state.sso_configured = False
    result = run_loadtest(contract_server.url, "--duration-scale", "0.05", "--tags", "oauth")
    assert result.returncode == 0, result.output
    data = summary(result.report_dir)
    assert data["behaviour"]["counts"]["sso_not_configured"] >= 1
    assert data["totals"]["failures"] == 0
    # Once told, each process stops asking: at most one probe per process and user that raced it.
    probes = [r for r in stats_rows(result.report_dir) if r["Name"].endswith("/auth/oidc/login")]
    assert sum(int(r["Request Count"]) for r in probes) <= 3
    assert not [r for r in stats_rows(result.report_dir) if "callback" in r["Name"]]


def test_tasks_are_excluded_through_the_environment(contract_server: ContractServer, run_loadtest) -> None:
    # The chart passes LOADTEST_EXCLUDE_TAGS: an in-cluster run over plain HTTP cannot keep a `Secure`
    # session cookie, so it leaves out the form-login (dashboard) tasks without touching the pod's args.
    result = run_loadtest(
        contract_server.url, "--duration-scale", "0.05", LOADTEST_EXCLUDE_TAGS="dashboard oauth"
    )
    assert result.returncode == 0, result.output
    names = [row["Name"] for row in stats_rows(result.report_dir)]
    assert names, result.output
    assert not [name for name in names if name.endswith(("] /", "] /login", "/auth/oidc/login"))], names


PLAIN_LOCUSTFILE = """
from locust import HttpUser, constant, task


class Reader(HttpUser):
    wait_time = constant(0.1)

    @task
    def ready(self):
        self.client.get("/readyz")
"""


def test_a_custom_locustfile_without_a_shape_follows_the_scenario_and_ends(
    contract_server: ContractServer, tmp_path: Path
) -> None:
    """Like the chart's inline loadtest.locustfile: no LoadTestShape. It used to run until killed."""
    locustfile = tmp_path / "plain.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    report_dir = tmp_path / "reports"
    env = {"PANEL_URL": contract_server.url, "LOADTEST_PASSWORD": ADMIN_PASSWORD, **UNTIMED_THRESHOLDS}
    result = run_cli(
        ["run", "--report-dir", str(report_dir), "--locustfile", str(locustfile), *SHORT],
        env,
        report_dir,
        timeout=90,
    )
    assert result.returncode == 0, result.output
    assert (
        f"note: {locustfile} defines no LoadTestShape; its users run the smoke scenario's stages (6 s"
        in result.stderr
    )
    data = summary(report_dir)
    assert data["gate"]["passed"] and data["steady"]["users"] == 3
    assert data["totals"]["duration_s"] < 60
    assert {row["Name"] for row in stats_rows(report_dir)} == {"/readyz"}


def test_a_custom_locustfile_with_the_packaged_shape_is_left_alone(tmp_path: Path) -> None:
    from panel_loadtest.cli import defines_load_shape

    cases = {
        "star.py": "from panel_loadtest.locustfile import *\n",
        "own.py": "from locust import LoadTestShape\nclass Ramp(LoadTestShape):\n    pass\n",
        "dotted.py": "import locust\nclass Ramp(locust.LoadTestShape):\n    pass\n",
        "plain.py": PLAIN_LOCUSTFILE,
        "named.py": "from panel_loadtest.locustfile import AdminUser\n",
    }
    found = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        found[name] = defines_load_shape(tmp_path / name)
    assert found == {"star.py": True, "own.py": True, "dotted.py": True, "plain.py": False, "named.py": False}


def test_make_loadtest_reports_the_tools_exit_code(contract_server: ContractServer, tmp_path: Path) -> None:
    """make can only exit 0 or 2; the target says the tool's own code in words and leaves it in a file."""
    repo = Path(__file__).resolve().parents[2]
    report_dir = tmp_path / "reports"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LOADTEST_", "MAKE")) and k != "PANEL_URL"
        },
        "PANEL_URL": contract_server.url,
        "LOADTEST_PASSWORD": ADMIN_PASSWORD,
        "LOADTEST_REPORT_DIR": str(report_dir),
        "LOADTEST_DURATION_SCALE": "0.1",
        **UNTIMED_THRESHOLDS,
        "LOADTEST_MAX_AVG_MS": "0.001",
    }
    result = subprocess.run(
        ["make", "--no-print-directory", "loadtest", f"PANEL_URL={contract_server.url}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "panel-loadtest exited with 99: an SLO threshold was breached" in result.stderr
    assert (report_dir / "exit-code").read_text().strip() == "99"
