"""Benchmark: the panel's cached ``GET /api/v2/servers`` against a bare Flask constant-JSON endpoint.

Both run under gunicorn with the same settings (panel.gunicorn_config: WEB_CONCURRENCY workers of
class WEB_WORKER_CLASS with WEB_THREADS threads, all taken from this script's environment); ``wrk``
drives each with the same connections and duration.
It starts its own throwaway PostgreSQL and Redis, seeds 1,000 servers, and prints requests per
second, average and p95 latency of both, and their ratio. Not a test: figures depend on the machine.

    uv run --frozen python services/panel/benchmarks/bench_api.py [--duration 15] [--connections 50]
        [--no-hog] [--profile]

Each comparison runs twice: on the machine as it is, then with one core kept busy by a CPU hog (a
busy loop in another process), since a real node is rarely idle. ``--profile`` also samples the
panel's gunicorn workers with py-spy during its first run and prints where their time goes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from support.servers import PostgresServer, RedisServer, free_port  # noqa: E402

SECRET = "bench-secret-0123456789-0123456789-abcdefgh"  # noqa: S105 - throwaway servers only
SERVERS = 1000
# wrk prints only p50/75/90/99 with --latency; this script adds p95 and the mean in microseconds.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH p95_us=%d mean_us=%d errors=%d non2xx=%d\\n",
    latency:percentile(95), latency.mean,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


@dataclass
class Result:
    name: str
    requests_per_second: float
    p95_ms: float
    mean_ms: float
    errors: int


def seed(database_url: str, redis_url: str) -> str:
    """Migrate, insert the servers and an admin; return a bearer token for that admin."""
    from panel import schema
    from panel.app import create_app
    from panel.auth.passwords import hash_password
    from panel.auth.tokens import issue_token_pair
    from panel.db import make_engine
    from panel.extensions import db
    from panel.models import Server, User
    from panel.settings import load_settings

    settings = load_settings(
        environ={}, database_url=database_url, redis_url=redis_url, secret_key=SECRET, jwt_secret=SECRET[::-1]
    )
    engine = make_engine(settings)
    schema.upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    with app.app_context():
        session = db()
        for i in range(SERVERS):
            server = Server(
                name=f"server-{i:04d}", address=f"10.0.{i // 256}.{i % 256}", port=22, owner=f"team{i % 10}"
            )
            server.set_tags([f"tag{i % 7}"])
            session.add(server)
        admin = User(username="bench", role="admin", password_hash=hash_password("bench-password-123"))
        session.add(admin)
        session.commit()
        token: str = issue_token_pair(admin)["access_token"]
    app.extensions["panel"].engine.dispose()
    return token


def panel_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """What every benchmarked gunicorn gets: production settings, long cache, no periodic checks."""
    return {
        **os.environ,
        "PANEL_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "JWT_SECRET": SECRET[::-1],
        "LOG_LEVEL": "WARNING",
        "CACHE_TTL_SECONDS": "3600",
        "CHECK_INTERVAL_SECONDS": "0",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 2)),
    }


def gunicorn(
    argv: list[str], env: dict[str, str], port: int, probe: str, headers: dict[str, str]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}{probe}", headers=headers, timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"error: {' '.join(argv)} did not answer on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(name: str, url: str, headers: dict[str, str], args: argparse.Namespace, script: Path) -> Result:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    stats = dict(re.findall(r"(\w+)=(\d+)", output.split("BENCH", 1)[1]))
    return Result(
        name,
        rps,
        int(stats["p95_us"]) / 1000,
        int(stats["mean_us"]) / 1000,
        int(stats["errors"]) + int(stats["non2xx"]),
    )


HOG = "while True:\n    pass\n"


def start_hog() -> subprocess.Popen[bytes]:
    """One busy-looping process: a core taken by something else, as on a shared node."""
    return subprocess.Popen([sys.executable, "-c", HOG])


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy samples gunicorn (master and workers) for ``seconds``; raw collapsed stacks to ``out``."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),  # PyPI's py-spy wheel ships the binary
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


FRAME = re.compile(r"^(?P<function>.+?) \((?P<path>[^:()]+)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``function (path/to/module.py:12)`` -> ``function (module.py)``."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['function']} ({match['path'].rsplit('/', 1)[-1]})"


def print_profile(out: Path, top: int = 30) -> None:
    """Inclusive share of samples per function, over the threads that were handling a request."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if "handle_request" not in stack and "wsgi_app" not in stack:
            continue  # idle threads, the master, the accept loop
        count = int(count_text)
        total += count
        for name in {frame_name(frame) for frame in stack.split(";")}:
            inclusive[name] = inclusive.get(name, 0) + count
    print(f"\npy-spy: {total} samples in request handling; top {top} functions by inclusive share")
    for name, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        print(f"  {100 * count / max(total, 1):5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per target (default 15)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--no-hog", action="store_true", help="skip the run with one core kept busy")
    parser.add_argument("--profile", action="store_true", help="py-spy the panel during its first run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("error: wrk is not installed; run `make setup` (apt-get install wrk)", file=sys.stderr)
        return 2

    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    work = Path(tempfile.mkdtemp(prefix="panel-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url, redis_url = postgres.url(postgres.create_database()), redis_server.url()
        token = seed(database_url, redis_url)
        auth = {"Authorization": f"Bearer {token}"}
        script = work / "p95.lua"
        script.write_text(WRK_SCRIPT)
        panel_port, bare_port = free_port(), free_port()
        base_env = panel_environment(database_url, redis_url)
        panel_env = {
            **base_env,
            "WEB_BIND": f"127.0.0.1:{panel_port}",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "m1"),
        }
        bare_env = {
            **base_env,
            "WEB_BIND": f"127.0.0.1:{bare_port}",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "m2"),
        }
        (work / "m2").mkdir()
        panel = gunicorn(
            [sys.executable, "-m", "panel.cli", "web"], panel_env, panel_port, "/api/v2/servers", auth
        )
        processes.append(panel)
        bare = gunicorn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:panel.gunicorn_config",
                "--chdir",
                str(Path(__file__).parent),
                "bare_app:app",
            ],
            bare_env,
            bare_port,
            "/",
            {},
        )
        processes.append(bare)
        cache = requests.get(
            f"http://127.0.0.1:{panel_port}/api/v2/servers", headers=auth, timeout=10
        ).headers
        worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
        print(f"panel GET /api/v2/servers warmed: X-Cache={cache.get('X-Cache')}, {SERVERS} servers seeded")
        print(
            f"wrk: {args.connections} connections, {args.threads} threads, {args.duration}s each; "
            f"gunicorn (both): {base_env['WEB_CONCURRENCY']} {worker_class} workers"
            + (f" x {os.environ.get('WEB_THREADS', '4')} threads" if worker_class == "gthread" else "")
        )

        runs: list[tuple[str, list[Result]]] = []
        for label in ["machine as it is"] + ([] if args.no_hog else ["one core kept busy by a CPU hog"]):
            hog = start_hog() if "hog" in label else None
            try:
                spy = (
                    profile(panel.pid, args.duration, work / "profile.txt")
                    if args.profile and not runs
                    else None
                )
                results = [  # the panel first, then the bare app: same order in every run
                    wrk(
                        "panel GET /api/v2/servers (cached)",
                        f"http://127.0.0.1:{panel_port}/api/v2/servers",
                        auth,
                        args,
                        script,
                    ),
                    wrk("bare Flask constant JSON", f"http://127.0.0.1:{bare_port}/", {}, args, script),
                ]
                if spy is not None:
                    _, spy_errors = spy.communicate(timeout=60)
                    if (work / "profile.txt").exists():
                        print_profile(work / "profile.txt")
                    else:
                        print(f"py-spy recorded nothing: {spy_errors.decode()[-500:]}")
            finally:
                if hog is not None:
                    stop(hog)
            runs.append((f"{label} (load before: {os.getloadavg()[0]:.2f})", results))
    finally:
        for process in processes:
            stop(process)
        redis_server.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)

    met = True
    for label, results in runs:
        print(f"\n{label}")
        print(f"{'target':40} {'req/s':>10} {'mean ms':>9} {'p95 ms':>9} {'errors':>7}")
        for result in results:
            figures = f"{result.requests_per_second:10.1f} {result.mean_ms:9.1f} {result.p95_ms:9.1f}"
            print(f"{result.name:40} {figures} {result.errors:7d}")
        panel_result, bare_result = results
        throughput = panel_result.requests_per_second / bare_result.requests_per_second
        p95_ratio = panel_result.p95_ms / bare_result.p95_ms
        print(f"panel / bare throughput: {throughput:.2f}x (goal >= 0.6x); p95 ratio: {p95_ratio:.2f}x")
        bar = panel_result.requests_per_second >= 100 and panel_result.mean_ms < 500
        verdict = "met" if bar else "NOT met"
        p95_ok = "yes" if panel_result.p95_ms < 100 else "no"
        print(f"requirement (>=100 req/s, mean < 500 ms, {args.connections} users): {verdict}")
        print(f"p95 under 100 ms at {args.connections} connections: {p95_ok}")
        met = met and bar
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
