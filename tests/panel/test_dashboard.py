"""The dashboard: session login, summary counts, server list, recent jobs, CSRF-protected check forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from panel_helpers import run_jobs

Headers = Callable[[str], dict[str, str]]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: FlaskClient, user: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page)
    assert token, page
    response = client.post(
        "/login", data={"username": user.username, "password": user.password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_dashboard_needs_a_session(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_operator_sees_servers_and_triggers_checks(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], auth_headers: Headers, server_payload: Any
) -> None:
    admin = auth_headers("admin")
    for name in ("alpha", "bravo"):
        client.post("/api/v2/servers", json=server_payload(name=name, port=1), headers=admin)
    operator = make_user("operator")
    browser = app.test_client()
    sign_in(browser, operator)

    page = browser.get("/").get_data(as_text=True)
    assert "alpha" in page and "bravo" in page
    assert re.search(r"Unknown: <strong>2</strong>", page)
    assert '<html lang="en">' in page and "<caption>" in page  # labelled, accessible table
    token = CSRF.search(page)
    assert token

    server_id = re.search(r'action="/servers/(\d+)/check"', page)
    assert server_id
    forged = browser.post(f"/servers/{server_id.group(1)}/check")
    assert forged.status_code == 400  # no CSRF token: refused
    accepted = browser.post(f"/servers/{server_id.group(1)}/check", data={"csrf_token": token.group(1)})
    assert accepted.status_code == 302
    assert browser.post("/checks", data={"csrf_token": token.group(1)}).status_code == 302

    page = browser.get("/").get_data(as_text=True)
    assert "queued (job" in page
    assert page.count("check_server") >= 1 and "check_all" in page
    run_jobs(app)
    run_jobs(app)
    page = browser.get("/?status=down").get_data(as_text=True)
    assert "Down: <strong>2</strong>" in page and "finished" in page


def test_viewer_has_no_check_buttons_and_cannot_post(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], auth_headers: Headers, server_payload: Any
) -> None:
    created = client.post("/api/v2/servers", json=server_payload(), headers=auth_headers("admin"))
    viewer = make_user("viewer")
    browser = app.test_client()
    sign_in(browser, viewer)
    page = browser.get("/").get_data(as_text=True)
    assert "Check now" not in page and "Check all" not in page
    token = CSRF.search(page)
    assert token
    response = browser.post(f"/servers/{created.get_json()['id']}/check", data={"csrf_token": token.group(1)})
    assert response.status_code == 403
