"""Locust user classes for the panel's three roles, written against its HTTP contract.

Every request is named by its route template prefixed with the role (``[viewer] /api/v2/servers/<id>``)
so the statistics stay small and show who did what, and tagged so a run can select subsets
(``--tags read``, ``--exclude-tags oauth``). Viewers only ever read; a write by a viewer
would come back 403 and be counted as a failure.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from locust import tag, task
from locust.contrib.fasthttp import FastHttpUser, FastResponse
from locust.exception import StopUser

from panel_loadtest import runtime
from panel_loadtest.accounts import Account

_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
MAX_OWN_SERVERS = 5


class PanelUser(FastHttpUser):
    """Shared behaviour: JWT login and refresh, named requests, and the read-only tasks."""

    abstract = True
    role: ClassVar[str] = ""

    def wait_time(self) -> float:
        settings = runtime.current().settings
        return random.uniform(settings.wait_min, settings.wait_max)

    # -- session plumbing -------------------------------------------------------------------

    def on_start(self) -> None:
        self.ctx = runtime.current()
        self.account: Account = self.ctx.accounts[self.role]
        self.access_token = ""
        self.refresh_token = ""
        self.token_expires_at = 0.0
        self.etags: dict[str, str] = {}
        self.known_ids: list[Any] = []
        self.dashboard_logged_in = False
        if not self.log_in():
            raise StopUser()

    def named(self, route: str) -> str:
        return f"[{self.role}] {route}"

    def _store_tokens(self, body: dict[str, Any]) -> None:
        self.access_token = str(body["access_token"])
        self.refresh_token = str(body.get("refresh_token") or self.refresh_token)
        self.token_expires_at = time.monotonic() + float(body.get("expires_in") or 300)

    def log_in(self) -> bool:
        with self.client.post(
            "/api/v2/auth/token",
            json={"username": self.account.username, "password": self.account.password},
            name=self.named("/api/v2/auth/token"),
            catch_response=True,
        ) as response:
            if response.status_code == 200 and _json(response).get("access_token"):
                self._store_tokens(_json(response))
                response.success()
                return True
            response.failure(f"login as {self.account.username} failed with HTTP {response.status_code}")
            return False

    def ensure_token(self) -> None:
        """Refresh the JWT shortly before it expires (and log in again if refreshing fails)."""
        if time.monotonic() < self.token_expires_at - self.ctx.settings.token_refresh_margin:
            return
        if self.refresh_token:
            with self.client.post(
                "/api/v2/auth/refresh",
                json={"refresh_token": self.refresh_token},
                name=self.named("/api/v2/auth/refresh"),
                catch_response=True,
            ) as response:
                if response.status_code == 200 and _json(response).get("access_token"):
                    self._store_tokens(_json(response))
                    self.ctx.counters.add("token_refreshed")
                    response.success()
                    return
                response.failure(f"token refresh failed with HTTP {response.status_code}")
        self.log_in()

    def api(
        self,
        method: str,
        path: str,
        route: str,
        expect: Iterable[int] = (200,),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> FastResponse | None:
        """One authenticated API call; success only on an expected status. Returns the response or None."""
        self.ensure_token()
        allowed = tuple(expect)
        all_headers = {"Authorization": f"Bearer {self.access_token}", **(headers or {})}
        with self.client.request(
            method, path, name=self.named(route), headers=all_headers, catch_response=True, **kwargs
        ) as response:
            if response.status_code in allowed:
                response.success()
                return response
            if response.status_code == 401:
                self.token_expires_at = 0.0  # log in again before the next call
            response.failure(
                f"{method} {route}: expected HTTP {'/'.join(map(str, allowed))}, got {response.status_code}"
            )
            return None

    def remember_ids(self, items: Iterable[Any]) -> None:
        ids = [item["id"] for item in items if isinstance(item, dict) and "id" in item]
        if ids:
            self.known_ids = ids[-50:]

    def pick_id(self) -> Any | None:
        return random.choice(self.known_ids) if self.known_ids else None

    # -- read tasks (every role) ---------------------------------------------------------------

    @tag("read", "v2", "cache", "etag")
    @task(10)
    def list_servers_revalidating(self) -> None:
        """The list view polled with If-None-Match: a 304 means the ETag saved the body."""
        path = "/api/v2/servers?limit=20"
        headers = {"If-None-Match": self.etags[path]} if path in self.etags else {}
        response = self.api("GET", path, "/api/v2/servers", expect=(200, 304), headers=headers)
        if response is None:
            return
        self.ctx.counters.record_cache_header(_header(response, "X-Cache"))
        if response.status_code == 304:
            self.ctx.counters.add("etag_not_modified")
            return
        if headers:
            self.ctx.counters.add("etag_full_response")
        if etag := _header(response, "ETag"):
            self.etags[path] = etag
        self.remember_ids(_json(response).get("items", []))

    @tag("read", "v2", "search")
    @task(4)
    def search_and_filter_servers(self) -> None:
        query = random.choice(
            [
                {"q": self.ctx.settings.account_prefix, "sort": "name", "limit": "10"},
                {"status": random.choice(["up", "down", "unknown"]), "limit": "10"},
                {"tag": "loadtest", "sort": "-name", "limit": "10"},
                {"owner": self.account.username, "limit": "10"},
            ]
        )
        response = self.api("GET", "/api/v2/servers", "/api/v2/servers?<filter>", params=query)
        if response is not None:
            self.ctx.counters.record_cache_header(_header(response, "X-Cache"))

    @tag("read", "v2", "paginate")
    @task(3)
    def paginate_servers(self) -> None:
        """Follow next_cursor for up to three pages."""
        params: dict[str, str] = {"limit": "5"}
        for _ in range(3):
            response = self.api("GET", "/api/v2/servers", "/api/v2/servers?cursor=<cursor>", params=params)
            cursor = _json(response).get("next_cursor") if response is not None else None
            if not cursor:
                return
            params = {"limit": "5", "cursor": str(cursor)}

    @tag("read", "v2", "cache")
    @task(6)
    def summary(self) -> None:
        response = self.api("GET", "/api/v2/summary", "/api/v2/summary")
        if response is not None:
            self.ctx.counters.record_cache_header(_header(response, "X-Cache"))

    @tag("read", "v2")
    @task(4)
    def server_detail(self) -> None:
        server_id = self.pick_id()
        if server_id is None:
            return
        # 404 is expected now and then: another user may have deleted it meanwhile.
        response = self.api("GET", f"/api/v2/servers/{server_id}", "/api/v2/servers/<id>", expect=(200, 404))
        if response is not None and response.status_code == 404:
            self.known_ids = [i for i in self.known_ids if i != server_id]

    @tag("read", "v1")
    @task(3)
    def list_servers_v1(self) -> None:
        response = self.api("GET", "/api/v1/servers", "/api/v1/servers")
        if response is None:
            return
        if _header(response, "Deprecation"):
            self.ctx.counters.add("v1_deprecation_header")
        body = _json_any(response)
        if isinstance(body, list):
            self.remember_ids(body)

    @tag("read", "v1")
    @task(2)
    def server_detail_v1(self) -> None:
        server_id = self.pick_id()
        if server_id is not None:
            self.api("GET", f"/api/v1/servers/{server_id}", "/api/v1/servers/<id>", expect=(200, 404))

    @tag("read", "dashboard")
    @task(3)
    def dashboard(self) -> None:
        """The HTML dashboard with a form-login session cookie (separate from the JWT)."""
        if not self.dashboard_logged_in and not self.dashboard_log_in():
            return
        with self.client.get(
            "/", name=self.named("/"), allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code == 200:
                response.success()
            else:
                self.dashboard_logged_in = False
                response.failure(f"dashboard: expected HTTP 200, got {response.status_code} (session lost?)")

    def dashboard_log_in(self) -> bool:
        with self.client.get("/login", name=self.named("/login"), catch_response=True) as page:
            if page.status_code != 200:
                page.failure(f"login page: HTTP {page.status_code}")
                return False
            page.success()
            match = _CSRF_INPUT.search(page.text or "")
        form = {"username": self.account.username, "password": self.account.password}
        if match:
            form["csrf_token"] = match.group(1) or match.group(2)
        with self.client.post(
            "/login", data=form, name=self.named("/login"), allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code in (302, 303):
                response.success()
                self.dashboard_logged_in = True
                return True
            response.failure(f"form login: expected a redirect, got HTTP {response.status_code}")
            return False

    def sso_in_play(self) -> bool:
        mode = self.ctx.settings.oidc
        return mode == "on" or (mode == "auto" and self.ctx.sso_configured is not False)

    @tag("read", "oauth")
    @task(1)
    def oauth_login_redirect(self) -> None:
        """The panel's side of OAuth2: it must redirect to the identity provider (not follow it)."""
        if not self.sso_in_play():
            return
        with self.client.get(
            "/auth/oidc/login",
            name=self.named("/auth/oidc/login"),
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code in (302, 303, 307):
                self.ctx.sso_configured = True
                response.success()
            elif response.status_code == 404 and self.ctx.settings.oidc == "auto":
                # The panel's documented answer when SSO is not configured: note it and stop asking.
                self.ctx.sso_configured = False
                self.ctx.counters.add("sso_not_configured")
                response.success()
            else:
                response.failure(f"OIDC login: expected a redirect, got HTTP {response.status_code}")

    @tag("read", "oauth")
    @task(1)
    def oauth_callback_error(self) -> None:
        """A callback with a forged state must be refused cleanly (4xx or back to /login), never a 5xx."""
        if not self.sso_in_play() or self.ctx.sso_configured is None:
            return
        with self.client.get(
            "/auth/oidc/callback?code=forged&state=forged",
            name=self.named("/auth/oidc/callback?<forged>"),
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code in (302, 303, 400, 401, 403):
                response.success()
            else:
                response.failure(f"OIDC callback with a forged state: got HTTP {response.status_code}")

    @tag("read", "v2")
    @task(1)
    def openapi(self) -> None:
        self.api("GET", "/api/v2/openapi.json", "/api/v2/openapi.json")


class WriterUser(PanelUser):
    """Server create/update/delete and check jobs: what operators and admins may do."""

    abstract = True

    def on_start(self) -> None:
        self.own_ids: list[Any] = []
        super().on_start()
        target = urlsplit(self.host or "")
        self.check_address = target.hostname or "127.0.0.1"
        self.check_port = target.port or (443 if target.scheme == "https" else 80)
        self.check_protocol = target.scheme if target.scheme in ("http", "https") else "tcp"
        # Like a real operator: register a server first, so updates and checks have a target at once.
        self.create_server()

    def on_stop(self) -> None:
        # Leave the panel as we found it.
        for server_id in list(getattr(self, "own_ids", [])):
            self.delete_server(server_id)

    def server_body(self) -> dict[str, Any]:
        return {
            "name": f"{self.ctx.settings.account_prefix}-{self.role}-{uuid.uuid4().hex[:10]}",
            "address": self.check_address,
            "port": self.check_port,
            "protocol": self.check_protocol,
            "tags": ["loadtest", self.role],
            "owner": self.account.username,
        }

    def delete_server(self, server_id: Any) -> None:
        self.api("DELETE", f"/api/v2/servers/{server_id}", "/api/v2/servers/<id>", expect=(200, 204, 404))
        if server_id in self.own_ids:
            self.own_ids.remove(server_id)

    @tag("write", "v2")
    @task(3)
    def create_server(self) -> None:
        if len(self.own_ids) >= MAX_OWN_SERVERS:
            self.delete_server(self.own_ids[0])
            return
        response = self.api(
            "POST", "/api/v2/servers", "/api/v2/servers", expect=(201,), json=self.server_body()
        )
        if response is not None and "id" in _json(response):
            self.own_ids.append(_json(response)["id"])

    @tag("write", "v2")
    @task(3)
    def update_server(self) -> None:
        if self.own_ids:
            server_id = random.choice(self.own_ids)
            self.api(
                "PATCH",
                f"/api/v2/servers/{server_id}",
                "/api/v2/servers/<id>",
                json={"tags": ["loadtest", self.role, f"rev-{random.randint(1, 9)}"]},
            )

    @tag("write", "v2")
    @task(1)
    def delete_oldest_server(self) -> None:
        if self.own_ids:
            self.delete_server(self.own_ids[0])

    @tag("write", "v1")
    @task(1)
    def legacy_write_cycle(self) -> None:
        """Create, replace and delete one server through the legacy v1 API."""
        body = self.server_body()
        created = self.api("POST", "/api/v1/servers", "/api/v1/servers", expect=(200, 201), json=body)
        server_id = _json(created).get("id") if created is not None else None
        if server_id is None:
            return
        body["tags"] = ["loadtest", self.role, "v1"]
        self.api("PUT", f"/api/v1/servers/{server_id}", "/api/v1/servers/<id>", json=body)
        self.api("DELETE", f"/api/v1/servers/{server_id}", "/api/v1/servers/<id>", expect=(200, 204))

    @tag("write", "jobs")
    @task(2)
    def check_server_and_wait(self) -> None:
        """Trigger a check job for one of our servers and poll its status until it is done."""
        if not self.own_ids:
            return
        server_id = random.choice(self.own_ids)
        response = self.api(
            "POST", f"/api/v2/servers/{server_id}/check", "/api/v2/servers/<id>/check", expect=(202,)
        )
        if response is not None:
            self.wait_for_job(_json(response))

    def wait_for_job(self, accepted: dict[str, Any]) -> None:
        job_id = accepted.get("job_id")
        if not job_id:
            return
        status_url = str(accepted.get("status_url") or f"/api/v2/jobs/{job_id}")
        started = time.monotonic()
        deadline = started + self.ctx.settings.job_poll_timeout
        delay = 0.1
        while time.monotonic() < deadline:
            polled = self.api("GET", status_url, "/api/v2/jobs/<id>")
            status = _json(polled).get("status") if polled is not None else None
            if status in ("finished", "failed"):
                self.ctx.counters.record_job(str(status), time.monotonic() - started)
                return
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.ctx.counters.record_job("timed_out", time.monotonic() - started)


class AdminUser(WriterUser):
    """An administrator: everything an operator does, plus users, the audit log and check-all."""

    role = "admin"
    weight = 1

    @tag("read", "admin")
    @task(2)
    def list_users(self) -> None:
        self.api("GET", "/api/v2/users", "/api/v2/users")

    @tag("read", "admin")
    @task(2)
    def audit_log(self) -> None:
        self.api("GET", "/api/v2/audit?limit=20", "/api/v2/audit")

    @tag("write", "jobs")
    @task(1)
    def check_all_servers(self) -> None:
        response = self.api("POST", "/api/v2/checks", "/api/v2/checks", expect=(202,))
        if response is not None:
            self.wait_for_job(_json(response))


class OperatorUser(WriterUser):
    """A regular user: manages servers and runs checks."""

    role = "operator"
    weight = 3


class ViewerUser(PanelUser):
    """Read-only: lists, searches, details, summary, dashboard. Never writes."""

    role = "viewer"
    weight = 6


def _json_any(response: FastResponse | None) -> Any:
    if response is None or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _json(response: FastResponse | None) -> dict[str, Any]:
    body = _json_any(response)
    return body if isinstance(body, dict) else {}


def _header(response: FastResponse, name: str) -> str | None:
    value = response.headers.get(name) if response.headers is not None else None
    return str(value) if value is not None else None
