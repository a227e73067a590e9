"""Generation capacity of the panel's Locust user classes, then (optionally) the `load` scenario.

Part 1, side by side in one run: requests per second per core of the role user classes (admin,
operator, viewer with their real task mix, no think time) against a canned-response server,
versus a bare FastHttpUser doing a single GET. Rounds alternate so drift hits both equally.
The load generator and the server are pinned to different cores when there are two.

Part 2 (with --panel-url and LOADTEST_PASSWORD in the environment, e.g. against `make up`):
the packaged `load` scenario with the default SLO thresholds; prints throughput, average, p95,
p99 and error rate from the run's summary.json.

    uv run --frozen python loadtest/benchmarks/bench_generation.py
    LOADTEST_PASSWORD=... uv run --frozen python loadtest/benchmarks/bench_generation.py \\
        --panel-url http://127.0.0.1:8000 --load-duration-scale 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to one CPU (None: leave it to the scheduler)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def aggregated_requests(stats_csv: Path) -> tuple[int, int]:
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"])
    raise RuntimeError(f"no Aggregated row in {stats_csv}")


def run_measured(command: list[str], env: dict[str, str], cpu: int | None) -> tuple[float, float]:
    """Run to completion; return (wall seconds, CPU seconds of it and its children)."""
    cpu_before, started = children_cpu(), time.monotonic()
    subprocess.run(
        command,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pin(cpu),
    )
    return time.monotonic() - started, children_cpu() - cpu_before


def bare_round(url: str, users: int, seconds: int, work: Path, cpu: int | None) -> dict[str, float]:
    prefix = work / f"bare-{time.monotonic_ns()}"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "bare_locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
    ]
    wall, cpu_s = run_measured(command, dict(os.environ), cpu)
    requests, failures = aggregated_requests(Path(f"{prefix}_stats.csv"))
    return {"requests": requests, "failures": failures, "wall_s": wall, "cpu_s": cpu_s}


def roles_round(url: str, users: int, seconds: int, work: Path, cpu: int | None) -> dict[str, float]:
    report_dir = work / f"roles-{time.monotonic_ns()}"
    scenario = work / "generation.yaml"
    scenario.write_text(
        f"name: generation\nstages:\n  - {{duration: {seconds}, users: {users}, spawn_rate: {users}}}\n"
        "judge: [requests]\n"
    )
    env = {
        **os.environ,
        "PANEL_URL": url,
        "LOADTEST_PASSWORD": "benchmark-password",
        "LOADTEST_WAIT_MIN": "0",
        "LOADTEST_WAIT_MAX": "0",
        "LOADTEST_SCENARIO": str(scenario),
        "LOADTEST_REPORT_DIR": str(report_dir),
    }
    command = [
        sys.executable,
        "-m",
        "panel_loadtest",
        "run",
        "--report-dir",
        str(report_dir),
        "--",
        "--only-summary",
    ]
    wall, cpu_s = run_measured(command, env, cpu)
    requests, failures = aggregated_requests(report_dir / "locust_stats.csv")
    return {"requests": requests, "failures": failures, "wall_s": wall, "cpu_s": cpu_s}


def generation(users: int, seconds: int, rounds: int) -> dict[str, object]:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, locust_cpu = (cpus[1], cpus[0]) if len(cpus) >= 2 else (None, None)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "constant_panel.py"), str(port)], preexec_fn=pin(server_cpu)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        results: dict[str, list[dict[str, float]]] = {"bare FastHttpUser GET": [], "panel role users": []}
        with tempfile.TemporaryDirectory(prefix="bench-loadtest-") as tmp:
            for _ in range(rounds):
                results["bare FastHttpUser GET"].append(
                    bare_round(url, users, seconds, Path(tmp), locust_cpu)
                )
                results["panel role users"].append(roles_round(url, users, seconds, Path(tmp), locust_cpu))
    finally:
        server.terminate()
        server.wait()
    summary: dict[str, object] = {
        "users": users,
        "seconds": seconds,
        "rounds": rounds,
        "pinned": server_cpu is not None,
    }
    for name, runs in results.items():
        summary[name] = {
            "req_per_s_wall": statistics.median(r["requests"] / seconds for r in runs),
            # CPU includes interpreter start-up (a second or two), so this is a conservative figure.
            "req_per_cpu_s": statistics.median(r["requests"] / r["cpu_s"] for r in runs),
            "failures": sum(r["failures"] for r in runs),
        }
    bare = summary["bare FastHttpUser GET"]["req_per_cpu_s"]  # type: ignore[index]
    roles = summary["panel role users"]["req_per_cpu_s"]  # type: ignore[index]
    summary["roles_vs_bare"] = roles / bare if bare else None
    return summary


def load_scenario(panel_url: str, duration_scale: float) -> dict[str, object]:
    if not os.environ.get("LOADTEST_PASSWORD") and not os.environ.get("LOADTEST_PASSWORD_FILE"):
        raise SystemExit(
            "error: set LOADTEST_PASSWORD (the admin password `make up` printed) for --panel-url"
        )
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        report_dir = Path(tmp) / "reports"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "panel_loadtest",
                "run",
                "--scenario",
                "load",
                "--host",
                panel_url,
                "--duration-scale",
                str(duration_scale),
                "--report-dir",
                str(report_dir),
                "--",
                "--only-summary",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        summary_file = report_dir / "summary.json"
        if not summary_file.exists():
            raise SystemExit(
                f"the load run wrote no summary (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
            )
        data = json.loads(summary_file.read_text())
    totals, steady = data["totals"], data["steady"] or {}
    return {
        "exit_code": completed.returncode,
        "verdict": [v["message"] for v in data["gate"]["verdicts"] if v["outcome"] != "skipped"],
        "steady_rps": steady.get("rps"),
        "steady_users": steady.get("users"),
        "avg_ms": totals["avg_ms"],
        "p95_ms": totals["p95_ms"],
        "p99_ms": totals["p99_ms"],
        "error_rate": totals["error_rate"],
        "requests": totals["requests"],
        "cache_hit_ratio": data["behaviour"]["cache_hit_ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20, help="concurrent users per generation run")
    parser.add_argument("--seconds", type=int, default=15, help="length of each generation run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per variant")
    parser.add_argument("--panel-url", help="also run the `load` scenario against this panel (e.g. make up)")
    parser.add_argument("--load-duration-scale", type=float, default=1.0, help="scale for the load run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    figures: dict[str, object] = {"generation": generation(args.users, args.seconds, args.rounds)}
    if args.panel_url:
        figures["load"] = load_scenario(args.panel_url, args.load_duration_scale)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    gen = figures["generation"]
    assert isinstance(gen, dict)
    print(
        f"Generation capacity ({gen['users']} users, {gen['seconds']} s x {gen['rounds']} rounds, "
        f"{'generator and server on separate cores' if gen['pinned'] else 'unpinned'}):"
    )
    for name in ("bare FastHttpUser GET", "panel role users"):
        row = gen[name]
        print(
            f"  {name:<24} {row['req_per_s_wall']:>8.0f} req/s   {row['req_per_cpu_s']:>8.0f} req/CPU-s"
            f"   ({row['failures']} failures)"
        )
    print(f"  role users / bare: {gen['roles_vs_bare']:.2f}")
    if "load" in figures:
        load = figures["load"]
        assert isinstance(load, dict)
        print(f"\nload scenario against {args.panel_url} (duration scale {args.load_duration_scale}):")
        print(
            f"  steady throughput {load['steady_rps']:.1f} req/s at {load['steady_users']} users; "
            f"average {load['avg_ms']:.0f} ms, p95 {load['p95_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms, "
            f"error rate {load['error_rate']:.2%}, exit code {load['exit_code']}"
        )
        for line in load["verdict"]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
