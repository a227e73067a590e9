"""Benchmark: the cached ``GET /api/v2/servers`` of the panel at a git revision against the work tree.

For a change to the request path: both panels run side by side on the same PostgreSQL, Redis and
data, under identical gunicorn settings; wrk measures them alternately (before, after, after,
before per round), so a busy machine's drift falls on both. The "before" panel is the revision's
``services/panel/src`` (``git archive``) put first on ``PYTHONPATH``; everything else (dependencies,
gunicorn) is the work tree's. Not a test: figures depend on the machine.

    uv run --frozen python services/panel/benchmarks/bench_ab.py [--before main] [--rounds 2]
        [--duration 15] [--connections 50]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_api import (
    WRK_SCRIPT,
    PostgresServer,
    RedisServer,
    Result,
    free_port,
    gunicorn,
    panel_environment,
    seed,
    stop,
    wrk,
)

REPO = Path(__file__).resolve().parents[3]


def export_panel(revision: str, into: Path) -> Path:
    """The panel package as it is at ``revision``; returns the directory to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "services/panel/src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "services" / "panel" / "src"


# Run in a child with the version's PYTHONPATH: CPU seconds (not wall time: the machine is shared)
# of N cached signed-in GET /api/v2/servers through the whole Flask stack.
CPU_SAMPLE = """
import os, sys, time
from panel.app import create_app
from panel.settings import load_settings
app = create_app(load_settings())
client = app.test_client()
headers = {"Authorization": os.environ["BENCH_AUTH"]}
for _ in range(200):
    assert client.get("/api/v2/servers", headers=headers).status_code == 200
start = time.process_time()
for _ in range(int(sys.argv[1])):
    client.get("/api/v2/servers", headers=headers)
print((time.process_time() - start) / int(sys.argv[1]) * 1e6)
"""


def cpu_per_request(
    before_path: Path, env: dict[str, str], auth: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for label in ("before", "after", "after", "before"):
            child_env = {**env, "BENCH_AUTH": auth["Authorization"]}
            if label == "before":
                child_env["PYTHONPATH"] = str(before_path)
            output = subprocess.run(
                [sys.executable, "-c", CPU_SAMPLE, str(args.requests)],
                env=child_env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            micros = float(output.strip().splitlines()[-1])
            best[label] = min(best.get(label, micros), micros)
    return best


def mean(results: list[Result], value: str) -> float:
    return sum(getattr(result, value) for result in results) / len(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD", help="git revision of the 'before' panel (default HEAD)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of before-after-after-before (2)")
    parser.add_argument(
        "--requests", type=int, default=3000, help="in-process requests per CPU-time sample (default 3000)"
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (default 15)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("error: wrk is not installed; run `make setup` (apt-get install wrk)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="panel-bench-ab-"))
    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        before_path = export_panel(args.before, work / "before")
        database_url, redis_url = postgres.url(postgres.create_database()), redis_server.url()
        auth = {"Authorization": f"Bearer {seed(database_url, redis_url)}"}
        script = work / "p95.lua"
        script.write_text(WRK_SCRIPT)
        base_env = {**panel_environment(database_url, redis_url), "METRICS_PORT": "0"}
        urls: dict[str, str] = {}
        for label, pythonpath in (("before", str(before_path)), ("after", "")):
            port = free_port()
            env = {**base_env, "WEB_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(work / label)}
            if pythonpath:
                env["PYTHONPATH"] = pythonpath
            argv = [sys.executable, "-m", "panel.cli", "web"]
            processes.append(gunicorn(argv, env, port, "/api/v2/servers", auth))
            urls[label] = f"http://127.0.0.1:{port}/api/v2/servers"
        print(
            f"before = {args.before}, after = the work tree; wrk {args.connections} connections, "
            f"{args.duration}s per run, {args.rounds} rounds of before/after/after/before"
        )
        results: dict[str, list[Result]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for label in ("before", "after", "after", "before"):
                result = wrk(label, urls[label], auth, args, script)
                results[label].append(result)
                print(
                    f"{label:6s} {result.requests_per_second:8.1f} req/s  mean {result.mean_ms:6.1f} ms  "
                    f"p95 {result.p95_ms:6.1f} ms  errors {result.errors}",
                    flush=True,
                )
        for label, runs in results.items():
            rps, mean_ms, p95_ms = (mean(runs, name) for name in ("requests_per_second", "mean_ms", "p95_ms"))
            print(f"{label}: {rps:.1f} req/s, mean {mean_ms:.1f} ms, p95 {p95_ms:.1f} ms ({len(runs)} runs)")
        ratio = mean(results["after"], "requests_per_second") / mean(results["before"], "requests_per_second")
        print(f"after / before throughput: {ratio:.2f}x")
        cpu = cpu_per_request(before_path, base_env, auth, args)
        print(
            f"CPU per cached request, in-process (Flask test client, {args.requests} requests a sample, "
            f"best of {args.rounds * 2}): before {cpu['before']:.0f} us, after {cpu['after']:.0f} us, "
            f"after / before {cpu['after'] / cpu['before']:.2f}x"
        )
        return 0
    finally:
        for process in processes:
            stop(process)
        redis_server.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
