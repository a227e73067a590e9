"""Benchmark: a check-all round of 10,000 servers on one `panel worker`, beside a bare asyncio loop.

The servers point at three kinds of ports on loopback, a third each:
- closed: nothing listens (the kernel answers RST at once);
- black-holed: an iptables DROP rule swallows the SYN, so the connect runs into the check timeout;
- slow: an HTTP server that answers ``GET /`` after ``--slow-delay`` seconds.
Everything runs inside a private network namespace made for this run (``unshare --net``; needs root),
so the DROP rule and every server vanish with it; nothing leaves loopback.

It measures, side by side:
1. the panel: one `panel worker` process (CHECK_CONCURRENCY, CHECK_TIMEOUT_SECONDS as given) runs one
   check-all round; while it drains, "Check now" is asked for a fast server every ``--check-now-every``
   seconds (enqueue to finished, from RQ's timestamps), and a periodic check-all is enqueued to prove
   it is skipped (no stacking);
2. a bare asyncio loop making the same connections with the same concurrency and timeout (TCP
   connect; for the HTTP servers, a minimal GET and the status line), storing nothing.
Then it prints the round time, checks per second, CPU seconds of each, their ratios, the Check-now
latencies (p50/p95/max) and whether the goals hold (round within the 300 s interval, Check now p95
under 2 s). Not a test: figures depend on the machine (report `uptime` with them).

    make bench-checks            # = uv run --frozen python services/panel/benchmarks/bench_checks.py
    ... bench_checks.py [--servers 10000] [--concurrency 200] [--timeout 5] [--slow-delay 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from bench_api import stop  # noqa: E402 - this folder, on the path when run as a script
from support.servers import PostgresServer, RedisServer  # noqa: E402

SECRET = "bench-secret-0123456789-0123456789-abcdefgh"  # noqa: S105 - throwaway servers only
IN_NETNS = "PANEL_BENCH_IN_NETNS"
BLACKHOLE_PORTS = (40000, 40999)
CLOSED_PORTS = (41000, 41999)
SLOW_PORTS = (42000, 42009)
FAST_PORT = 42100
EPHEMERAL_PORTS = (43000, 60999)
INTERVAL_SECONDS = 300
CHECK_NOW_GOAL_SECONDS = 2.0

SLOW_SERVER = """
import asyncio, sys
delay = float(sys.argv[1])
RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok"
def handler(wait):
    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\\r\\n\\r\\n")
            await asyncio.sleep(wait)
            writer.write(RESPONSE)
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
    return handle
async def main():
    servers = [await asyncio.start_server(handler(delay), "127.0.0.1", p, backlog=4096)
               for p in range(int(sys.argv[2]), int(sys.argv[3]) + 1)]
    servers.append(await asyncio.start_server(handler(0), "127.0.0.1", int(sys.argv[4]), backlog=1024))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


@dataclass(frozen=True)
class Target:
    protocol: str
    port: int


def targets(count: int) -> list[Target]:
    """A third closed, a third black-holed (TCP), a third slow HTTP; spread over each port range."""
    out: list[Target] = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            out.append(Target("tcp", CLOSED_PORTS[0] + i % (CLOSED_PORTS[1] - CLOSED_PORTS[0] + 1)))
        elif kind == 1:
            out.append(Target("tcp", BLACKHOLE_PORTS[0] + i % (BLACKHOLE_PORTS[1] - BLACKHOLE_PORTS[0] + 1)))
        else:
            out.append(Target("http", SLOW_PORTS[0] + i % (SLOW_PORTS[1] - SLOW_PORTS[0] + 1)))
    return out


def enter_private_network() -> None:
    """Re-run this script in a new network namespace with loopback up and the DROP rule in place."""
    if os.environ.get(IN_NETNS) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        # Ephemeral ports (PostgreSQL's and Redis's free ports, every client's source port) stay out of
        # the target ranges: a reply to a source port inside the DROP range would be dropped too.
        Path("/proc/sys/net/ipv4/ip_local_port_range").write_text(
            f"{EPHEMERAL_PORTS[0]} {EPHEMERAL_PORTS[1]}\n"
        )
        low, high = BLACKHOLE_PORTS
        subprocess.run(
            ["iptables", "-A", "INPUT", "-i", "lo", "-p", "tcp", "--dport", f"{low}:{high}", "-j", "DROP"],
            check=True,
        )
        return
    if os.geteuid() != 0:
        raise SystemExit(
            "error: this benchmark needs root (a private network namespace with an iptables DROP rule); "
            "run it as root, e.g. sudo make bench-checks"
        )
    for tool in ("unshare", "ip", "iptables"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode != 0:
            raise SystemExit(f"error: {tool} is not installed; run `make setup`")
    env = {**os.environ, IN_NETNS: "1"}
    argv = ["unshare", "--net", "--", sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    sys.exit(subprocess.run(argv, env=env, check=False).returncode)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# ---- the bare loop ----


async def bare_round(items: list[Target], concurrency: int, timeout: float) -> tuple[int, int]:
    up = 0
    pending = iter(items)

    async def one(target: Target) -> bool:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
                try:
                    if target.protocol == "http":
                        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                        status = await reader.readline()
                        return b" 200 " in status
                    return True
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return False

    async def worker() -> None:
        nonlocal up
        for target in pending:
            ok = await one(target)  # not `up += await ...`: that reads `up` before the await
            up += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(items), up


# ---- the panel ----


def seed(database_url: str, redis_url: str, items: list[Target]) -> None:
    from panel import schema
    from panel.db import make_engine
    from panel.models import Server
    from panel.settings import load_settings
    from sqlalchemy import insert

    settings = load_settings(
        environ={}, database_url=database_url, redis_url=redis_url, secret_key=SECRET, jwt_secret=SECRET[::-1]
    )
    engine = make_engine(settings)
    schema.upgrade(engine)
    rows = [
        {
            "name": f"bench-{i:05d}",
            "address": "127.0.0.1",
            "port": t.port,
            "protocol": t.protocol,
            "tags": [],
            "status": "unknown",
            "created_at": datetime.now().astimezone(),
            "updated_at": datetime.now().astimezone(),
        }
        for i, t in enumerate(items)
    ]
    rows.append({**rows[0], "name": "fast", "port": FAST_PORT, "protocol": "http"})
    with engine.begin() as connection:
        connection.execute(insert(Server), rows)
    engine.dispose()


@dataclass
class PanelRun:
    round_seconds: float
    total: int
    up: int
    cpu_seconds: float
    check_now: list[float]
    skipped: bool


def panel_round(database_url: str, redis_url: str, args: argparse.Namespace) -> PanelRun:
    from panel import jobs
    from panel.app import create_app
    from panel.checks import rounds
    from panel.extensions import db, resources
    from panel.models import Server
    from panel.settings import load_settings

    env = {
        **os.environ,
        "PANEL_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "JWT_SECRET": SECRET[::-1],
        "LOG_LEVEL": "WARNING",
        "CHECK_INTERVAL_SECONDS": "0",
        "CHECK_CONCURRENCY": str(args.concurrency),
        "CHECK_TIMEOUT_SECONDS": str(args.timeout),
        "METRICS_PORT": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    settings = load_settings(
        environ={}, database_url=database_url, redis_url=redis_url, secret_key=SECRET, jwt_secret=SECRET[::-1]
    )
    app = create_app(settings)
    worker = subprocess.Popen([sys.executable, "-m", "panel.cli", "worker"], env=env)
    check_now: list[float] = []
    try:
        time.sleep(3)  # the worker connects and registers
        with app.test_request_context():
            connection = resources().redis
            fast_id = db().query(Server.id).filter(Server.name == "fast").scalar()
            cpu_before = cpu_seconds(worker.pid)
            round_job = jobs.enqueue_check_all()
            deadline = time.monotonic() + 120
            while (rounds.progress(connection, round_job.id) or {}).get("state") != "running":
                if time.monotonic() > deadline or round_job.get_status(refresh=True) == "failed":
                    raise SystemExit(f"error: the round did not start: {jobs.describe(round_job)}")
                time.sleep(0.05)
            periodic = jobs.queue(connection).enqueue(
                jobs.periodic_check_all, meta={"kind": "periodic_check_all"}
            )
            round_over = threading.Event()

            def ask_check_now() -> None:
                with app.test_request_context():
                    while not round_over.is_set():
                        job = jobs.enqueue_check(fast_id)
                        while job.get_status(refresh=True) not in ("finished", "failed"):
                            time.sleep(0.02)
                        job.refresh()
                        if job.ended_at and job.enqueued_at:
                            check_now.append((job.ended_at - job.enqueued_at).total_seconds())
                        round_over.wait(args.check_now_every)

            asker = threading.Thread(target=ask_check_now, daemon=True)
            asker.start()
            deadline = time.monotonic() + 3 * INTERVAL_SECONDS
            while True:
                progress = rounds.progress(connection, round_job.id) or {}
                if progress.get("state") != "running" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            cpu_used = cpu_seconds(worker.pid) - cpu_before
            round_over.set()
            asker.join(30)
            skipped = (jobs.describe(jobs.fetch(connection, periodic.id)).get("result") or {}).get(
                "state"
            ) == "skipped"
        started = datetime.fromisoformat(progress["started_at"])
        finished = datetime.fromisoformat(progress["finished_at"])
        if progress.get("state") != "finished":
            raise SystemExit(f"error: the round ended as {progress}")
        return PanelRun(
            (finished - started).total_seconds(),
            int(progress["done"]),
            int(progress["up"]),
            cpu_used,
            check_now,
            skipped,
        )
    finally:
        stop(worker)
        app.extensions["panel"].close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200, help="CHECK_CONCURRENCY (default 200)")
    parser.add_argument("--timeout", type=float, default=5.0, help="CHECK_TIMEOUT_SECONDS (default 5)")
    parser.add_argument("--slow-delay", type=float, default=2.0, help="seconds the slow servers wait")
    parser.add_argument("--check-now-every", type=float, default=1.0, help="seconds between Check nows")
    args = parser.parse_args()
    enter_private_network()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    items = targets(args.servers)
    slow = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVER, str(args.slow_delay), *map(str, SLOW_PORTS), str(FAST_PORT)],
        stdout=subprocess.PIPE,
    )
    assert slow.stdout is not None
    slow.stdout.readline()
    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    try:
        database_url, redis_url = postgres.url(postgres.create_database()), redis_server.url()
        seed(database_url, redis_url, items)
        print(
            f"{args.servers} servers: {args.servers // 3} closed, {args.servers // 3} black-holed (iptables "
            f"DROP), {args.servers - 2 * (args.servers // 3)} slow HTTP ({args.slow_delay:g} s); "
            f"concurrency {args.concurrency}, timeout {args.timeout:g} s; load: {os.getloadavg()}",
            flush=True,
        )
        panel = panel_round(database_url, redis_url, args)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        bare_total, bare_up = asyncio.run(bare_round(items, args.concurrency, args.timeout))
        bare_seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        bare_cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    finally:
        slow.terminate()
        redis_server.stop()
        postgres.stop()

    print()
    print(f"{'':34} {'seconds':>8} {'checks/s':>9} {'CPU s':>7} {'up':>6} {'checked':>8}")
    panel_rate = panel.total / panel.round_seconds
    bare_rate = bare_total / bare_seconds
    print(
        f"{'panel worker (1 process), stored':34} {panel.round_seconds:8.1f} {panel_rate:9.1f} "
        f"{panel.cpu_seconds:7.1f} {panel.up:6d} {panel.total:8d}"
    )
    print(
        f"{'bare asyncio loop, nothing stored':34} {bare_seconds:8.1f} {bare_rate:9.1f} "
        f"{bare_cpu:7.1f} {bare_up:6d} {bare_total:8d}"
    )
    print(
        f"\npanel / bare: time {panel.round_seconds / bare_seconds:.2f}x, throughput "
        f"{panel_rate / bare_rate:.2f}x, CPU {panel.cpu_seconds / max(bare_cpu, 0.01):.2f}x"
    )
    p50, p95 = percentile(panel.check_now, 50), percentile(panel.check_now, 95)
    print(
        f"Check now during the round: {len(panel.check_now)} asked, p50 {p50:.3f} s, p95 {p95:.3f} s, "
        f"max {max(panel.check_now, default=float('nan')):.3f} s"
        + (f", mean {statistics.mean(panel.check_now):.3f} s" if panel.check_now else "")
    )
    print(
        f"periodic check-all during the round: {'skipped (no stacking)' if panel.skipped else 'NOT skipped'}"
    )
    within = panel.round_seconds <= INTERVAL_SECONDS and panel.total == args.servers + 1
    fast = p95 < CHECK_NOW_GOAL_SECONDS
    print(f"round within the {INTERVAL_SECONDS} s interval: {'yes' if within else 'NO'}")
    print(f"Check now p95 under {CHECK_NOW_GOAL_SECONDS:g} s: {'yes' if fast else 'NO'}")
    return 0 if within and fast and panel.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
