"""UI page server time at scale: the server list with 10,000 servers, the server page with 30 days of
checks at a 60 s interval (43,200 rows), against the API's JSON for the same first page.

    make bench-ui   # = uv run --frozen python services/panel/benchmarks/bench_ui.py [--runs 40]

Starts its own throwaway PostgreSQL and Redis, seeds the data, signs in a session, then times each
request inside the panel process (Flask's test client: routing, auth, queries, Jinja; no network, no
client), which is the server time a browser waits for. Each row runs interleaved with the API row in
one loop, so both see the same machine load; the ratio compares them. Targets (issue 13): list first
page < 200 ms, server page < 300 ms (p95).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from support.servers import PostgresServer, RedisServer  # noqa: E402

TARGETS_MS = {"list": 200.0, "detail": 300.0}


def tags_of(n: int) -> list[str]:
    return ["web" if n % 2 else "db", f"rack-{n % 40}"]


def seed(database_url: str, servers: int, checks: int) -> int:
    """``servers`` servers with tags and owners, and ``checks`` results (one a minute) on one of them."""
    from panel import schema
    from panel.db import make_engine
    from panel.models import CheckResult, Server, ServerTag
    from panel.settings import load_settings
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    engine = make_engine(load_settings(environ={}, database_url=database_url))
    schema.upgrade(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        rows = [
            {
                "name": f"node-{n:05d}",
                "address": f"10.{n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
                "port": 22,
                "protocol": "tcp",
                "tags": tags_of(n),
                "owner": f"team-{n % 12}",
                "status": ("up", "down", "unknown")[n % 3],
                "last_check_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(servers)
        ]
        session.execute(insert(Server), rows)
        ids = list(session.scalars(select(Server.id).order_by(Server.id)))
        tags = [
            {"server_id": i, "tag": t} for i, n in zip(ids, range(servers), strict=True) for t in tags_of(n)
        ]
        session.execute(insert(ServerTag), tags)
        target = ids[len(ids) // 2]
        history = [
            {
                "server_id": target,
                "checked_at": now - timedelta(minutes=m),
                "up": m % 97 != 0,
                "latency_ms": None if m % 97 == 0 else 5.0 + m % 13,
                "error": "ConnectionRefusedError: [Errno 111] Connection refused" if m % 97 == 0 else None,
            }
            for m in range(checks)
        ]
        for start in range(0, len(history), 10_000):
            session.execute(insert(CheckResult), history[start : start + 10_000])
        session.commit()
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return target


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=43_200)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    try:
        database_url = postgres.url(postgres.create_database(), driver="postgresql+psycopg2")
        started = time.perf_counter()
        target = seed(database_url, args.servers, args.checks)
        took = time.perf_counter() - started
        print(f"seeded {args.servers:,} servers and {args.checks:,} checks in {took:.1f} s")
        run(database_url, redis.url(), target, args.runs)
    finally:
        redis.stop()
        postgres.stop()


def run(database_url: str, redis_url: str, target: int, runs: int) -> None:
    from panel.app import create_app
    from panel.auth.passwords import hash_password
    from panel.extensions import db
    from panel.models import User
    from panel.settings import load_settings

    secret = "bench-secret-0123456789-0123456789-abcdef"  # noqa: S105 - a throwaway test key
    settings = load_settings(
        environ={},
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret,
        jwt_secret=secret[::-1],
        panel_env="testing",
        log_level="WARNING",
        check_interval_seconds=0,
    )
    app = create_app(settings)
    with app.app_context():
        db().add(User(username="bench", role="operator", password_hash=hash_password("bench-password-123")))
        db().commit()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    signed_in = client.post(
        "/login", data={"username": "bench", "password": "bench-password-123", "csrf_token": token.group(1)}
    )
    assert signed_in.status_code == 302, signed_in.status_code
    first = client.get("/").get_data(as_text=True)
    deep = re.search(r'rel="next" href="([^"]+)"', first)
    assert deep, "no next page"

    def get(path: str, expect: str | None = None) -> Callable[[], object]:
        def call() -> object:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if expect:
                assert expect in response.get_data(as_text=True), path
            return response

        return call

    def uncached_api() -> object:
        # The API caches in Redis; bump the generation so every call computes, like the page does.
        app.extensions["panel"].redis.incr("panel:cache:generation")
        return get("/api/v2/servers?sort=name&limit=50")()

    rows: list[tuple[str, str, Callable[[], object]]] = [
        ("list", "GET / (first page, 50 of 10,000, by name)", get("/", "node-00000")),
        ("list", "GET /?limit=200", get("/?limit=200")),
        ("list", "GET /?q=node-09&status=down", get("/?q=node-09&status=down")),
        ("list", "GET /?tag=rack-7&sort=-created_at", get("/?tag=rack-7&sort=-created_at")),
        ("list", "GET / next page (keyset cursor)", get(deep.group(1).replace("&amp;", "&"))),
        ("detail", "GET /servers/<id> (43,200 checks, 24h chart)", get(f"/servers/{target}", "uptime-30d")),
        ("detail", "GET /servers/<id>?range=30d", get(f"/servers/{target}?range=30d", "uptime-30d")),
        ("detail", "GET /servers/<id>/live (htmx refresh)", get(f"/servers/{target}/live")),
        ("ref", "API GET /api/v2/servers?limit=50 (uncached)", uncached_api),
    ]
    for _, _, call in rows:  # warm up: first queries, template compilation
        call()
    samples: dict[str, list[float]] = {name: [] for _, name, _ in rows}
    for _ in range(runs):  # interleaved, so every row sees the same load
        for _, name, call in rows:
            samples[name].append(timed(call))

    api = statistics.median(samples[rows[-1][1]])
    print(f"\n{runs} runs each, server time in ms (in the panel process, PostgreSQL 15 on loopback)")
    print(f"{'request':<48} {'p50':>7} {'p95':>7} {'max':>7}  {'vs API p50':>10}  target")
    failed = False
    for kind, name, _ in rows:
        values = sorted(samples[name])
        p50 = statistics.median(values)
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        goal = TARGETS_MS.get(kind)
        verdict = "" if goal is None else (f"< {goal:.0f} ok" if p95 < goal else f"< {goal:.0f} MISSED")
        failed = failed or (goal is not None and p95 >= goal)
        print(f"{name:<48} {p50:7.1f} {p95:7.1f} {values[-1]:7.1f}  {p50 / api:9.2f}x  {verdict}")
    load = os.getloadavg()
    print(
        f"\nload average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
