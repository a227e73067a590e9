"""Screenshots of every UI page at desktop and phone width, on realistic seeded data (for reviews).

    uv run --frozen python tests/ui/screenshots.py --out /tmp/panel-screenshots

Starts its own PostgreSQL, Redis, gunicorn and worker (as the browser suite does), seeds servers with
30 days of history, users, notification channels and audit entries, then saves
``<page>-desktop.png`` and ``<page>-phone.png`` under ``--out``; docs/screenshots/README.md says how the
reviewed set in the repository is refreshed.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from panel.models import (  # noqa: E402
    AuditEntry,
    CheckResult,
    NotificationChannel,
    NotificationDelivery,
    Server,
    User,
)
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402
from support.servers import PostgresServer, RedisServer  # noqa: E402
from ui_stack import CHROMIUM_ARGS, DESKTOP, PHONE, PanelStack  # noqa: E402

FLEET = [  # name prefix, tags, owner, protocol, port
    ("web-eu", ["web", "eu-west"], "team-shop", "https", 443),
    ("web-us", ["web", "us-east"], "team-shop", "https", 443),
    ("api", ["api", "eu-west"], "team-platform", "http", 8080),
    ("db", ["postgres", "eu-west"], "team-data", "tcp", 5432),
    ("cache", ["redis"], "team-platform", "tcp", 6379),
    ("queue", ["rabbitmq"], "team-data", "tcp", 5672),
]


def seed(panel: PanelStack) -> int:
    """Servers, history, users, channels and audit entries; returns the featured server's id."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    panel.user("admin", "admin")
    panel.user("olivia", "operator")
    panel.user("victor", "viewer")
    with panel.session() as session:
        session.add(
            User(username="former-contractor", role="operator", is_active=False, email="fc@example.org")
        )
        servers: list[Server] = []
        for prefix, tags, owner, protocol, port in FLEET:
            for number in range(1, 9):
                server = Server(
                    name=f"{prefix}-{number:02d}",
                    address=f"{prefix}-{number:02d}.prod.example.net",
                    port=port,
                    protocol=protocol,
                    owner=owner,
                )
                server.set_tags(tags)
                servers.append(server)
                session.add(server)
        session.flush()
        rows = []
        for server in servers:
            down = rng.random() < 0.12
            unknown = not down and rng.random() < 0.06
            if unknown:
                continue
            base = rng.uniform(8, 120)
            count = 8640 if server.name == "web-eu-01" else 90
            for i in range(count):
                at = now - timedelta(minutes=5 * i)
                outage = (server.name == "web-eu-01" and (40 <= i < 46 or 2000 <= i < 2030)) or (
                    down and i < 4
                )
                flap = rng.random() < 0.01
                up = not (outage or flap)
                latency = (
                    None if not up else max(1.0, rng.gauss(base, base * 0.15) + (60 if 300 < i < 340 else 0))
                )
                rows.append(
                    {
                        "server_id": server.id,
                        "checked_at": at,
                        "up": up,
                        "latency_ms": latency,
                        "error": None
                        if up
                        else "ConnectTimeout: cannot GET https://"
                        f"{server.address}:{server.port}/ (timed out after 5 s)",
                    }
                )
            server.status = "down" if down or rows[-count]["up"] is False else "up"
            server.last_check_at = now
            server.last_check_result = {
                "up": server.status == "up",
                "latency_ms": round(base, 2),
                "checked_at": now.isoformat(),
            }
        for start in range(0, len(rows), 5000):
            session.execute(insert(CheckResult), rows[start : start + 5000])
        featured = next(s for s in servers if s.name == "web-eu-01")
        email = NotificationChannel(kind="email", target="oncall@example.org", enabled=True)
        hook = NotificationChannel(
            kind="webhook",
            target="https://hooks.example.org/panel?key=secret",
            server_id=featured.id,
            enabled=True,
        )
        session.add_all([email, hook])
        session.flush()
        details = {"server": {"id": featured.id, "name": featured.name}, "checked_at": now.isoformat()}
        session.add_all(
            [
                NotificationDelivery(
                    channel_id=email.id,
                    server_id=featured.id,
                    event="down",
                    details=details,
                    status="sent",
                    attempts=1,
                    created_at=now - timedelta(hours=3),
                ),
                NotificationDelivery(
                    channel_id=hook.id,
                    server_id=featured.id,
                    event="down",
                    details=details,
                    status="failed",
                    attempts=4,
                    last_error="POST https://hooks.example.org/panel: HTTP 502",
                    created_at=now - timedelta(hours=3),
                ),
                NotificationDelivery(
                    channel_id=email.id,
                    server_id=featured.id,
                    event="up",
                    details=details,
                    status="sent",
                    attempts=1,
                    created_at=now - timedelta(hours=2, minutes=30),
                ),
            ]
        )
        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
        for i, (action, target, target_id, changes) in enumerate(
            [
                ("server.create", "server", featured.id, {"name": featured.name, "port": 443}),
                ("user.create", "user", 2, {"username": "olivia", "role": "operator"}),
                ("server.update", "server", featured.id, {"port": {"old": 8443, "new": 443}}),
                ("server.status", "server", featured.id, {"status": {"old": "up", "new": "down"}}),
                ("server.status", "server", featured.id, {"status": {"old": "down", "new": "up"}}),
                ("user.update", "user", 4, {"is_active": {"old": True, "new": False}}),
                ("server.check_all", "server", None, {"job_id": "3f9c2a7e-0d7b-4d5e-9a61-0c2f4b8e7d10"}),
            ]
        ):
            session.add(
                AuditEntry(
                    action=action,
                    target_type=target,
                    target_id=None if target_id is None else str(target_id),
                    changes=changes,
                    actor_id=None if action == "server.status" else admin_id,
                    request_id=f"req-{i:04d}",
                    created_at=now - timedelta(hours=7 - i),
                )
            )
        return featured.id


def shoot(page: Page, out: Path, name: str, go: Callable[[Page], object]) -> None:
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        go(page)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
        print(out / f"{name}-{label}.png")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    panel = PanelStack(postgres.url(postgres.create_database(), driver="postgresql+psycopg2"), redis.url())
    try:
        panel.start()
        featured = seed(panel)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            anonymous = browser.new_context(base_url=panel.url, timezone_id="Europe/Berlin").new_page()
            shoot(anonymous, out, "login", lambda p: p.goto("/login"))
            page = browser.new_context(base_url=panel.url, timezone_id="Europe/Berlin").new_page()
            page.goto("/login")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("ui-test-password-0123")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/")
            page.goto(f"/servers/{featured}")
            page.get_by_role("button", name="Check now").click()
            page.wait_for_timeout(1500)
            shoot(page, out, "servers", lambda p: p.goto("/"))
            shoot(page, out, "servers-filtered", lambda p: p.goto("/?tag=web&sort=status"))
            shoot(page, out, "server-detail", lambda p: p.goto(f"/servers/{featured}"))
            shoot(page, out, "server-detail-30d", lambda p: p.goto(f"/servers/{featured}?range=30d"))

            def invalid_form(p: Page) -> None:
                p.goto("/servers/new")
                p.get_by_label("Name").fill("bad name!")
                p.get_by_label("Port").fill("70000")
                p.get_by_role("button", name="Add server").click()

            shoot(page, out, "server-new-errors", invalid_form)
            shoot(page, out, "server-edit", lambda p: p.goto(f"/servers/{featured}/edit"))
            shoot(page, out, "server-delete", lambda p: p.goto(f"/servers/{featured}/delete"))
            shoot(page, out, "users", lambda p: p.goto("/users"))
            shoot(page, out, "user-new", lambda p: p.goto("/users/new"))

            def reset(p: Page) -> None:
                p.goto("/users")
                p.get_by_role("link", name="olivia").click()
                p.get_by_role("button", name="Reset password").click()

            shoot(page, out, "user-detail-reset", reset)
            shoot(page, out, "audit", lambda p: p.goto("/audit"))
            shoot(page, out, "notifications", lambda p: p.goto("/notifications"))
            shoot(page, out, "jobs", lambda p: p.goto("/jobs"))

            def job(p: Page) -> None:
                p.goto("/jobs")
                p.locator("table a.mono").first.click()

            shoot(page, out, "job-detail", job)

            def forged(p: Page) -> None:
                p.goto(f"/servers/{featured}/edit")
                p.locator("form.stacked input[name=csrf_token]").evaluate("node => { node.value = 'forged' }")
                p.get_by_role("button", name="Save changes").click()

            shoot(page, out, "csrf-failure", forged)
            viewer = browser.new_context(base_url=panel.url, timezone_id="Europe/Berlin").new_page()
            viewer.goto("/login")
            viewer.get_by_label("Username").fill("victor")
            viewer.get_by_label("Password").fill("ui-test-password-0123")
            viewer.get_by_role("button", name="Sign in").click()
            viewer.wait_for_url("**/")
            shoot(viewer, out, "viewer-servers", lambda p: p.goto("/"))
            shoot(viewer, out, "viewer-server-detail", lambda p: p.goto(f"/servers/{featured}"))
            shoot(viewer, out, "viewer-forbidden", lambda p: p.goto("/users"))
            browser.close()
    finally:
        panel.stop()
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
