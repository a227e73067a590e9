"""The web UI (panel.ui) through Flask's test client, on SQLite and PostgreSQL: every page, its forms,
roles, CSRF, pagination, live fragments and the no-inline-script rule. The browser suite (tests/ui)
drives the same pages in Chromium."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from panel.extensions import db
from panel.models import AuditEntry, CheckResult, Server, User
from panel_helpers import run_jobs
from sqlalchemy import func, select
from ui_helpers import CSRF, sign_in

Headers = Callable[[str], dict[str, str]]
MakeUser = Callable[..., Any]
UI_DIR = Path(__file__).resolve().parents[2] / "services/panel/src/panel/ui"


def browser(app: Flask, make_user: MakeUser, role: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, sign_in(client, make_user(role))


def seed_servers(app: Flask, count: int, **fields: Any) -> list[int]:
    with app.app_context():
        session = db()
        servers = []
        for number in range(count):
            server = Server(
                name=fields.get("name", f"node-{number:04d}"),
                address=fields.get("address", f"10.0.{number // 250}.{number % 250 + 1}"),
                port=fields.get("port", 22),
                protocol=fields.get("protocol", "tcp"),
                owner=fields.get("owner"),
                status=fields.get("status", "unknown"),
            )
            server.set_tags(fields.get("tags", []))
            session.add(server)
            servers.append(server)
        session.commit()
        return [server.id for server in servers]


def seed_history(
    app: Flask, server_id: int, results: list[tuple[timedelta, bool, float | None, str | None]]
) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        session = db()
        for age, up, latency, error in results:
            session.add(
                CheckResult(server_id=server_id, checked_at=now - age, up=up, latency_ms=latency, error=error)
            )
        session.commit()


def names_on(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/servers/\d+">([^<]+)</a></th>', page)


def link(page: str, rel: str) -> str:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


# ---- access ----


def test_every_page_needs_a_session(client: FlaskClient) -> None:
    for path in ("/", "/servers/1", "/servers/new", "/jobs", "/audit", "/users", "/notifications"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_pages_have_no_inline_script_or_style_and_pin_their_assets(
    app: Flask, make_user: MakeUser, server_payload: Any
) -> None:
    """Strict CSP (no 'unsafe-inline') must hold: scripts and styles only from static files."""
    client, _ = browser(app, make_user, "admin")
    (server_id,) = seed_servers(app, 1, tags=["web"], owner="team-a")
    seed_history(
        app,
        server_id,
        [(timedelta(minutes=i), i % 5 != 0, 10.0 + i, "boom" if i % 5 == 0 else None) for i in range(40)],
    )
    pages = [
        "/",
        f"/servers/{server_id}",
        "/servers/new",
        f"/servers/{server_id}/edit",
        "/jobs",
        "/audit",
        "/users",
        "/users/new",
        "/notifications",
        f"/servers/{server_id}/delete",
    ]
    anonymous = app.test_client()
    responses = [(path, client.get(path)) for path in pages]
    responses.append(("/login", anonymous.get("/login")))
    responses.append(("csrf failure", anonymous.post("/login", data={"username": "a", "password": "b"})))
    for path, response in responses:
        assert response.status_code == (400 if path == "csrf failure" else 200), path
        html = response.get_data(as_text=True)
        assert response.headers.get("Cache-Control") == "no-store" or path in ("/login", "csrf failure"), path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script on {path}"
        assert "<style" not in html and not re.search(r"\sstyle=", html), f"inline style on {path}"
        assert not re.search(r"\son[a-z]+=", html), f"inline event handler on {path}"
        assert "hx-on" not in html and "javascript:" not in html, path
        assert '<html lang="en">' in html and 'name="viewport"' in html, path
        assert html.rstrip().endswith("</html>"), f"stray output after </html> on {path}"
        for asset in re.findall(r'(?:src|href)="(/static/ui/[^"]+)"', html):
            served = anonymous.get(asset.replace("&amp;", "&"))
            assert served.status_code == 200, asset
            assert "max-age=31536000" in served.headers.get("Cache-Control", ""), asset


def test_vendored_htmx_is_the_recorded_release() -> None:
    vendored = UI_DIR / "static/vendor/htmx"
    digest = hashlib.sha256((vendored / "htmx.min.js").read_bytes()).hexdigest()
    assert digest in (vendored / "README.md").read_text()
    assert "Zero-Clause BSD" in (vendored / "LICENSE").read_text()


# ---- server list ----


def test_list_search_filters_and_sort(app: Flask, make_user: MakeUser) -> None:
    seed_servers(app, 1, name="web-eu-1", tags=["web", "eu"], owner="team-a", status="up")
    seed_servers(app, 1, name="web-us-1", tags=["web"], owner="team-b", status="down")
    seed_servers(app, 1, name="db-eu-1", address="db.internal", tags=["db"], owner="team-a")
    client, _ = browser(app, make_user, "viewer")

    page = client.get("/").get_data(as_text=True)
    assert names_on(page) == ["db-eu-1", "web-eu-1", "web-us-1"]
    assert re.search(r'<span class="tile-n">3</span> total', page)
    assert re.search(r'<span class="tile-n">1</span> down', page)
    assert names_on(client.get("/?q=WEB").get_data(as_text=True)) == ["web-eu-1", "web-us-1"]
    assert names_on(client.get("/?q=internal").get_data(as_text=True)) == ["db-eu-1"]
    assert names_on(client.get("/?status=down").get_data(as_text=True)) == ["web-us-1"]
    assert names_on(client.get("/?tag=eu").get_data(as_text=True)) == ["web-eu-1"]
    assert names_on(client.get("/?owner=team-a&tag=web").get_data(as_text=True)) == ["web-eu-1"]
    assert names_on(client.get("/?sort=-name").get_data(as_text=True)) == ["web-us-1", "web-eu-1", "db-eu-1"]
    assert names_on(client.get("/?sort=status").get_data(as_text=True))[0] == "web-us-1"
    empty = client.get("/?q=nothing-like-this").get_data(as_text=True)
    assert "No server matches these filters" in empty


def test_bad_list_parameters_explain_themselves_instead_of_failing(app: Flask, make_user: MakeUser) -> None:
    client, _ = browser(app, make_user, "viewer")
    for query in ("status=sideways", "tag=%00", "sort=password", "after=not-a-cursor", "q=" + "x" * 500):
        response = client.get(f"/?{query}")
        assert response.status_code == 302, query
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "flash-error" in page and "query parameter" in page, query


def test_keyset_pages_forward_and_back(app: Flask, make_user: MakeUser) -> None:
    seed_servers(app, 60)
    client, _ = browser(app, make_user, "viewer")
    first = client.get("/?limit=25").get_data(as_text=True)
    assert names_on(first) == [f"node-{n:04d}" for n in range(25)] and 'rel="prev"' not in first
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert names_on(second) == [f"node-{n:04d}" for n in range(25, 50)]
    third = client.get(link(second, "next")).get_data(as_text=True)
    assert names_on(third) == [f"node-{n:04d}" for n in range(50, 60)] and 'rel="next"' not in third
    back = client.get(link(third, "prev")).get_data(as_text=True)
    assert names_on(back) == names_on(second)
    back_again = client.get(link(back, "prev")).get_data(as_text=True)
    assert names_on(back_again) == names_on(first) and 'rel="prev"' not in back_again
    descending = client.get("/?limit=25&sort=-name").get_data(as_text=True)
    after = client.get(link(descending, "next")).get_data(as_text=True)
    assert names_on(after)[0] == "node-0034"
    assert names_on(client.get(link(after, "prev")).get_data(as_text=True)) == names_on(descending)


# ---- create / edit / delete ----


def test_create_form_reports_each_invalid_field_and_keeps_the_input(app: Flask, make_user: MakeUser) -> None:
    client, token = browser(app, make_user, "operator")
    bad = {
        "name": "-bad name",
        "address": "not an address!",
        "port": "70000",
        "protocol": "gopher",
        "tags": "ok, not ok",
        "owner": "",
        "csrf_token": token,
    }
    response = client.post("/servers/new", data=bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for field in ("name", "address", "port", "protocol", "tags"):
        assert f'id="{field}-error"' in page, field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page, re.S), field
    assert "Enter a whole number from 1 to 65535." in page
    assert 'value="not an address!"' in page  # what the user typed is kept
    assert 'id="owner-error"' not in page

    good = {
        **bad,
        "name": "api-1",
        "address": "api.example.org",
        "port": "8443",
        "protocol": "https",
        "tags": "Web, EU",
        "owner": "team-a",
    }
    created = client.post("/servers/new", data=good)
    assert created.status_code == 302
    detail = client.get(created.headers["Location"]).get_data(as_text=True)
    assert "Server api-1 created." in detail and "https://api.example.org:8443" in detail
    assert ">web<" in detail and ">eu<" in detail

    duplicate = client.post("/servers/new", data=good)
    assert duplicate.status_code == 409
    assert "Another server already has this name" in duplicate.get_data(as_text=True)
    with app.app_context():
        assert db().scalar(select(func.count()).select_from(Server)) == 1
        assert (
            db().scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "server.create")
            )
            == 1
        )


def test_edit_and_delete_with_csrf(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1, name="old-name", tags=["a"])
    seed_history(app, server_id, [(timedelta(minutes=1), True, 5.0, None)])
    client, token = browser(app, make_user, "operator")
    form = client.get(f"/servers/{server_id}/edit").get_data(as_text=True)
    assert 'value="old-name"' in form and 'value="a"' in form
    data = {
        "name": "new-name",
        "address": "10.1.1.1",
        "port": "2222",
        "protocol": "tcp",
        "tags": "b, c",
        "owner": "ops",
        "csrf_token": token,
    }
    assert client.post(f"/servers/{server_id}/edit", data={**data, "csrf_token": ""}).status_code == 400
    saved = client.post(f"/servers/{server_id}/edit", data=data)
    assert saved.status_code == 302
    with app.app_context():
        server = db().get(Server, server_id)
        assert server is not None and (server.name, server.port, server.tags, server.owner) == (
            "new-name",
            2222,
            ["b", "c"],
            "ops",
        )
    invalid = client.post(f"/servers/{server_id}/edit", data={**data, "port": "0"})
    assert invalid.status_code == 422 and 'id="port-error"' in invalid.get_data(as_text=True)

    confirm = client.get(f"/servers/{server_id}/delete").get_data(as_text=True)
    assert "Delete new-name?" in confirm
    assert client.post(f"/servers/{server_id}/delete").status_code == 400  # no token
    deleted = client.post(f"/servers/{server_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert "Server new-name deleted." in client.get(deleted.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db().get(Server, server_id) is None
        assert db().scalar(select(func.count()).select_from(CheckResult)) == 0  # history went with it
    gone = client.get(f"/servers/{server_id}")
    assert gone.status_code == 404 and "text/html" in gone.headers["Content-Type"]


# ---- checks ----


def test_check_now_without_and_with_javascript(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1, address="127.0.0.1", port=1)
    client, token = browser(app, make_user, "operator")
    plain = client.post(
        f"/servers/{server_id}/check", data={"csrf_token": token, "return_to": "/?sort=-name"}
    )
    assert plain.status_code == 302 and plain.headers["Location"] == "/?sort=-name"
    offsite = client.post(
        f"/servers/{server_id}/check", data={"csrf_token": token, "return_to": "//evil.example/"}
    )
    assert offsite.headers["Location"] == "/"

    htmx = client.post(
        f"/servers/{server_id}/check", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    fragment = htmx.get_data(as_text=True)
    assert htmx.status_code == 200 and "checking…" in fragment and f'id="status-{server_id}"' in fragment
    status_url = re.search(r'hx-get="([^"]+)"', fragment)
    assert status_url
    still = client.get(status_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "checking…" in still
    run_jobs(app)
    done = client.get(status_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert f'id="status-{server_id}"' in done and ">down<" in done and "hx-swap-oob" in done

    live = client.get(f"/servers/live?ids={server_id},999999,x").get_data(as_text=True)
    assert f'id="status-{server_id}" class="pill pill-down" hx-swap-oob="true"' in live
    assert 'id="summary"' in live and "<time datetime=" in live


def test_bulk_check_selected_and_check_all(app: Flask, make_user: MakeUser) -> None:
    ids = seed_servers(app, 3, address="127.0.0.1", port=1)
    client, token = browser(app, make_user, "operator")
    none = client.post("/servers/check", data={"csrf_token": token})
    assert "Select at least one server" in client.get(none.headers["Location"]).get_data(as_text=True)
    chosen = client.post(
        "/servers/check", data={"csrf_token": token, "server_id": [str(ids[0]), str(ids[2]), "x"]}
    )
    assert "Checks of 2 selected servers queued." in client.get(chosen.headers["Location"]).get_data(
        as_text=True
    )
    run_jobs(app)
    with app.app_context():
        statuses = {s.id: s.status for s in db().scalars(select(Server))}
    assert statuses == {ids[0]: "down", ids[1]: "unknown", ids[2]: "down"}
    assert client.post("/checks", data={"csrf_token": token}).status_code == 302
    jobs_page = client.get("/jobs").get_data(as_text=True)
    assert "check all" in jobs_page and "check server" in jobs_page


# ---- roles ----


def test_viewer_sees_no_write_controls_and_every_write_is_refused(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1)
    client, token = browser(app, make_user, "viewer")
    for path in ("/", f"/servers/{server_id}"):
        page = client.get(path).get_data(as_text=True)
        for control in (
            "Check now",
            "Check all",
            "Add server",
            "Edit",
            "Delete",
            "Check selected",
            'name="server_id"',
        ):
            assert control not in page, (path, control)
        assert "Audit log" not in page and "Users" not in page
    writes = [
        f"/servers/{server_id}/check",
        "/servers/check",
        "/checks",
        "/servers/new",
        f"/servers/{server_id}/edit",
        f"/servers/{server_id}/delete",
        "/users/new",
        "/notifications",
    ]
    for path in writes:
        response = client.post(path, data={"csrf_token": token, "server_id": str(server_id)})
        assert response.status_code == 403, path
        assert "Your role (viewer) cannot do this" in response.get_data(as_text=True)
    for path in ("/servers/new", f"/servers/{server_id}/edit", "/users", "/audit", "/notifications"):
        assert client.get(path).status_code == 403, path
    with app.app_context():
        assert db().get(Server, server_id) is not None


# ---- server page ----


def test_server_page_shows_heartbeats_uptime_latency_and_errors(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1, status="up")
    results: list[tuple[timedelta, bool, float | None, str | None]] = []
    for minute in range(100):  # the last 24 h: 100 checks, 10 of them down
        down = minute % 10 == 3
        results.append(
            (
                timedelta(minutes=minute * 5),
                not down,
                None if down else 20.0 + minute % 7,
                f"ConnectionRefusedError: refused #{minute}" if down else None,
            )
        )
    for day in range(2, 10):  # older: all up, one check a day
        results.append((timedelta(days=day), True, 30.0, None))
    seed_history(app, server_id, results)
    client, _ = browser(app, make_user, "viewer")
    page = client.get(f"/servers/{server_id}").get_data(as_text=True)

    beats = re.findall(r'class="beat beat-(up|down|empty)"', page)
    assert len(beats) == 90 and beats.count("down") == 9 and "empty" not in beats
    assert re.search(r'aria-label="Last 90 checks, oldest on the left: 81 up, 9 down"', page)
    assert re.search(r'data-testid="uptime-24h">90.00%', page)
    assert re.search(r'data-testid="uptime-7d">(\d+\.\d+)%', page)
    seven = float(re.search(r'data-testid="uptime-7d">(\d+\.\d+)%', page).group(1))  # type: ignore[union-attr]
    assert seven == pytest.approx(100 * (90 + 5) / 105, abs=0.01)
    assert "90 of 100 checks up" in page
    assert page.count('class="latency-line"') >= 1 and 'class="down-mark"' in page
    assert "refused #3" in page and page.count("<code>ConnectionRefusedError") == 10
    assert "<time datetime=" in page
    month = client.get(f"/servers/{server_id}?range=30d").get_data(as_text=True)
    assert 'aria-current="true">30d<' in month and 'class="latency-line"' in month
    assert 'aria-current="true">24h<' in client.get(f"/servers/{server_id}?range=bogus").get_data(
        as_text=True
    )
    live = client.get(f"/servers/{server_id}/live").get_data(as_text=True)
    assert live.startswith('<div id="server-live"') and "uptime-30d" in live
    assert 'id="server-errors" hx-swap-oob="true"' in live and "refused #3" in live


def test_a_new_server_page_has_empty_slots_and_no_data(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1)
    client, _ = browser(app, make_user, "viewer")
    page = client.get(f"/servers/{server_id}").get_data(as_text=True)
    assert page.count("beat-empty") == 90 and "no data" in page and "No checks in this range yet." in page


# ---- users ----


def test_admin_creates_a_user_changes_the_role_disables_and_resets_the_password(
    app: Flask, make_user: MakeUser
) -> None:
    client, token = browser(app, make_user, "admin")
    invalid = client.post(
        "/users/new", data={"username": "x y", "password": "short", "role": "root", "csrf_token": token}
    )
    page = invalid.get_data(as_text=True)
    assert invalid.status_code == 422
    assert all(f'id="{f}-error"' in page for f in ("username", "password", "role"))
    assert "short" not in re.sub(r"<p class=\"field-error\".*?</p>", "", page)  # the password is never echoed
    created = client.post(
        "/users/new",
        data={
            "username": "carol",
            "email": "carol@example.org",
            "password": "initial-password-123",
            "role": "viewer",
            "csrf_token": token,
        },
    )
    assert created.status_code == 302
    user_page = created.headers["Location"]
    assert (
        client.post(
            "/users/new",
            data={
                "username": "carol",
                "password": "another-password-1",
                "role": "viewer",
                "csrf_token": token,
            },
        ).status_code
        == 409
    )
    assert "carol is now operator." in client.get(
        client.post(f"{user_page}/role", data={"role": "operator", "csrf_token": token}).headers["Location"]
    ).get_data(as_text=True)

    reset = client.post(f"{user_page}/password", data={"csrf_token": token})
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    new_password = re.search(
        r'id="new-password" class="mono secret" value="([^"]+)"', reset.get_data(as_text=True)
    )
    assert new_password and len(new_password.group(1)) >= 20
    carol = app.test_client()
    sign_in(carol, type("U", (), {"username": "carol"})(), new_password.group(1))
    assert carol.get("/").status_code == 200
    old = app.test_client()
    token_old = CSRF.search(old.get("/login").get_data(as_text=True))
    assert token_old
    refused = old.post(
        "/login",
        data={"username": "carol", "password": "initial-password-123", "csrf_token": token_old.group(1)},
    )
    assert refused.status_code == 401

    disabled = client.post(f"{user_page}/active", data={"active": "0", "csrf_token": token})
    assert "carol is disabled" in client.get(disabled.headers["Location"]).get_data(as_text=True)
    assert carol.get("/").status_code == 302  # the disabled user's session no longer counts
    with app.app_context():
        carol_row = db().scalar(select(User).where(User.username == "carol"))
        assert carol_row is not None and carol_row.role == "operator" and carol_row.is_active is False
    users = client.get("/users").get_data(as_text=True)
    assert "carol" in users and "disabled" in users


def test_admins_cannot_demote_or_disable_themselves(app: Flask, make_user: MakeUser) -> None:
    admin = make_user("admin")
    client = app.test_client()
    token = sign_in(client, admin)
    response = client.post(f"/users/{admin.id}/role", data={"role": "viewer", "csrf_token": token})
    assert "cannot demote or deactivate yourself" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert client.get("/users").status_code == 200  # still an admin
    assert client.get("/users/999999").status_code == 404


# ---- audit and jobs ----


def test_audit_view_filters_and_hides_account_details_from_operators(app: Flask, make_user: MakeUser) -> None:
    admin_client, admin_token = browser(app, make_user, "admin")
    admin_client.post(
        "/users/new",
        data={
            "username": "dave",
            "email": "dave@example.org",
            "password": "Quartz-lantern-harbor-58",
            "role": "viewer",
            "csrf_token": admin_token,
        },
    )
    admin_client.post(
        "/servers/new",
        data={"name": "s1", "address": "h", "port": "1", "protocol": "tcp", "csrf_token": admin_token},
    )
    page = admin_client.get("/audit").get_data(as_text=True)
    assert "user.create" in page and "server.create" in page and "dave@example.org" in page
    only_servers = admin_client.get("/audit?target_type=server").get_data(as_text=True)
    assert "<code>server.create</code>" in only_servers and "<code>user.create</code>" not in only_servers
    assert "<code>user.create</code>" not in admin_client.get("/audit?action=server.create").get_data(
        as_text=True
    )
    assert "No entries match." in admin_client.get("/audit?actor=nobody").get_data(as_text=True)

    operator_client, _ = browser(app, make_user, "operator")
    operator_view = operator_client.get("/audit").get_data(as_text=True)
    assert "user.create" in operator_view and "dave@example.org" not in operator_view
    assert "visible to admins" in operator_view


def test_audit_pages_back_in_time(app: Flask, make_user: MakeUser) -> None:
    with app.app_context():
        session = db()
        for number in range(120):
            session.add(AuditEntry(action="server.check", target_type="server", target_id=str(number)))
        session.commit()
    client, _ = browser(app, make_user, "admin")
    first = client.get("/audit?action=server.check").get_data(as_text=True)
    assert first.count("<code>server.check</code>") == 50
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert second.count("<code>server.check</code>") == 50 and "server 69<" in second
    third = client.get(link(second, "next")).get_data(as_text=True)
    assert third.count("<code>server.check</code>") == 20 and 'rel="next"' not in third


def test_jobs_list_and_detail(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1, address="127.0.0.1", port=1)
    client, token = browser(app, make_user, "operator")
    client.post(f"/servers/{server_id}/check", data={"csrf_token": token})
    listing = client.get("/jobs").get_data(as_text=True)
    job_link = re.search(r'href="(/jobs/[A-Za-z0-9-]+)"', listing)
    assert job_link and "queued" in listing
    queued = client.get(job_link.group(1)).get_data(as_text=True)
    assert "hx-trigger" in queued  # refreshes itself while pending
    run_jobs(app)
    finished = client.get(job_link.group(1)).get_data(as_text=True)
    assert (
        "finished" in finished and f'href="/servers/{server_id}"' in finished and "hx-trigger" not in finished
    )
    assert "&#34;up&#34;: false" in finished
    missing = client.get("/jobs/no-such-job")
    assert missing.status_code == 404 and "kept for 24 hours" in missing.get_data(as_text=True)


def test_times_render_as_utc_with_a_machine_readable_value(app: Flask, make_user: MakeUser) -> None:
    (server_id,) = seed_servers(app, 1)
    seed_history(app, server_id, [(timedelta(minutes=1), False, None, "down")])
    client, _ = browser(app, make_user, "viewer")
    page = client.get(f"/servers/{server_id}").get_data(as_text=True)
    stamp = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', page)
    assert stamp
    assert (
        stamp.group(1).endswith("Z") and stamp.group(2).endswith(" UTC") and stamp.group(2) == stamp.group(3)
    )
    assert datetime.fromisoformat(stamp.group(1)).strftime("%Y-%m-%d %H:%M:%S UTC") == stamp.group(2)


# ---- hostile input ----


def test_hostile_input_gets_a_clear_answer_never_a_500(app: Flask, make_user: MakeUser) -> None:
    """NUL bytes (PostgreSQL refuses them in text), huge and non-ASCII values, numbers past the limits."""
    (server_id,) = seed_servers(app, 1)
    client, token = browser(app, make_user, "admin")
    gets = [
        "/audit?action=%00",
        "/audit?actor=%00x",
        "/audit?target_type=%00",
        "/audit?before=%00",
        "/audit?action=" + "a" * 5000,
        f"/servers/live?ids={'1,' * 5000}",
        "/servers/live?ids=%00",
        "/?limit=99999999999999999999",
        "/?q=%F0%9F%94%A5",
        f"/servers/{server_id}?range=%00",
        "/servers/99999999999",
        "/users/99999999999",
        "/jobs/%00",
        "/notifications?server_id=%00",
        "/notifications?server_id=99999999999",
    ]
    for path in gets:
        response = client.get(path)
        assert response.status_code in (200, 302, 404), (path, response.status_code)
    refused = client.get("/audit?action=%00")
    message = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "query parameter &#39;action&#39;" in message
    forms: list[tuple[str, dict[str, Any]]] = [
        ("/servers/new", {"name": "a\x00b", "address": "h", "port": "1", "protocol": "tcp"}),
        ("/servers/new", {"name": "x", "address": "h", "port": "\uff11\uff12\uff13", "protocol": "tcp"}),
        ("/servers/new", {"name": "x", "address": "h", "port": "1" * 5000, "protocol": "tcp"}),
        ("/servers/new", {"name": "x", "address": "h", "port": "1", "tags": ",".join(["t"] * 5000)}),
        ("/servers/new", {"name": "é" * 300, "address": "h\x00", "port": "-1", "owner": "\x00"}),
        (f"/servers/{server_id}/edit", {"name": "x" * 129, "address": "h", "port": "0"}),
        ("/users/new", {"username": "\x00", "password": "p" * 300, "role": "\x00", "email": "a@\x00"}),
        ("/notifications", {"kind": "webhook", "target": "http://h/\x00"}),
        ("/notifications", {"kind": "email", "target": "a\x00@b.c", "server_id": "99999999999"}),
        ("/servers/check", {"server_id": ["\x00", "99999999999", "-1", "\uff11"]}),
    ]
    for path, data in forms:
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code in (302, 409, 422), (path, data, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
    with app.app_context():
        assert db().scalar(select(func.count()).select_from(Server)) == 1


def test_the_user_form_says_why_a_password_is_refused(app: Flask, make_user: MakeUser) -> None:
    client, token = browser(app, make_user, "admin")
    data = {"username": "erin", "role": "viewer", "csrf_token": token}
    common = client.post("/users/new", data={**data, "password": "password1234"})
    assert common.status_code == 422
    message = re.search(
        r'<p class="field-error" id="password-error">([^<]+)</p>', common.get_data(as_text=True)
    )
    assert message and "12 to 256 characters" not in message.group(1), message
    assert (
        client.post("/users/new", data={**data, "password": "a-Long-enough-and-unusual-7"}).status_code == 302
    )
