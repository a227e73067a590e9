"""A small in-memory HTTP server that speaks the panel's HTTP contract (CONTRIBUTING.md).

It lets the load-test suite exercise the locustfile, the gate and the reports in seconds,
with knobs the real panel does not have (added latency, forced errors). It enforces the
three roles like the contract says, so a forbidden call is a 403 here too. The end-to-end
test against the real panel lives in test_real_panel.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WRITE_ROLES = {"admin", "operator"}


@dataclass
class ContractState:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    servers: dict[int, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    version: int = 0
    cached_version: int = -1
    delay_s: float = 0.0
    token_lifetime_s: int = 300
    sso_configured: bool = True  # False: /auth/oidc/* answer 404, as the panel does without SSO
    broken_paths: set[str] = field(default_factory=set)  # answered 503, to spend the error budget
    # (username, method, route template) of every write, to prove who did what.
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    forbidden: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ContractHandler(BaseHTTPRequestHandler):
    server: ContractServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    @property
    def state(self) -> ContractState:
        return self.server.state

    # -- plumbing --------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        if status >= 400 and body is not None and content_type == "application/json":
            content_type = "application/problem+json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _problem(self, status: int, title: str) -> None:
        self._send(status, {"type": "about:blank", "title": title, "status": status})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        return json.loads(raw) if raw else {}

    def _user(self) -> dict[str, Any] | None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        entry = self.state.tokens.get(token)
        if entry is None or entry[1] < time.monotonic():
            return None
        return self.state.users[entry[0]]

    def _issue(self, username: str) -> dict[str, Any]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.state.tokens[access] = (username, time.monotonic() + self.state.token_lifetime_s)
        self.state.refresh_tokens[refresh] = username
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.state.token_lifetime_s,
        }

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        if self.state.delay_s:
            time.sleep(self.state.delay_s)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        body = self._body() if method in ("POST", "PATCH", "PUT") else {}
        with self.state.lock:
            self._route(method, parts, query, body)

    # -- routes ----------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> None:
        path = "/" + "/".join(parts)
        if path in self.state.broken_paths:
            return self._problem(503, "deliberately broken for the test")
        if path in ("/livez", "/readyz"):
            return self._send(200, {"status": "ok"})
        if parts[:1] == ["auth"]:
            return self._oidc(parts, query)
        if path == "/login":
            return self._form_login(method, body)
        if path == "/":
            cookie = self.headers.get("Cookie", "")
            sid = cookie.partition("session=")[2].split(";")[0]
            if sid in self.state.sessions:
                return self._send(200, b"<html>dashboard</html>", content_type="text/html")
            return self._send(302, None, {"Location": "/login"})
        if path == "/api/v2/auth/token" and method == "POST":
            user = self.state.users.get(body.get("username", ""))
            if user is None or user["password"] != body.get("password"):
                return self._problem(401, "invalid credentials")
            return self._send(200, self._issue(user["username"]))
        if path == "/api/v2/auth/refresh" and method == "POST":
            username = self.state.refresh_tokens.get(body.get("refresh_token", ""))
            if username is None:
                return self._problem(401, "invalid refresh token")
            return self._send(200, self._issue(username))
        user = self._user()
        if user is None:
            return self._problem(401, "authentication required")
        if parts[:2] == ["api", "v2"]:
            return self._v2(user, method, parts[2:], query, body)
        if parts[:2] == ["api", "v1"]:
            return self._v1(user, method, parts[2:], body)
        return self._problem(404, "not found")

    def _forbid(self, user: dict[str, Any], method: str, route: str) -> None:
        self.state.forbidden.append((user["username"], method, route))
        self._problem(403, "forbidden for your role")

    def _may_write(self, user: dict[str, Any], method: str, route: str) -> bool:
        if user["role"] in WRITE_ROLES:
            self.state.writes.append((user["username"], method, route))
            return True
        self._forbid(user, method, route)
        return False

    def _v2(
        self, user: dict[str, Any], method: str, rest: list[str], query: dict[str, str], body: Any
    ) -> None:
        state = self.state
        if rest == ["servers"] and method == "GET":
            return self._list_servers(query)
        if rest == ["servers"] and method == "POST":
            if not self._may_write(user, method, "/api/v2/servers"):
                return None
            return self._send(201, self._create(body))
        if len(rest) == 2 and rest[0] == "servers":
            return self._one_server(user, method, rest[1], body, "/api/v2/servers/<id>")
        if len(rest) == 3 and rest[0] == "servers" and rest[2] == "check" and method == "POST":
            if not self._may_write(user, method, "/api/v2/servers/<id>/check"):
                return None
            return self._job()
        if rest == ["checks"] and method == "POST":
            if not self._may_write(user, method, "/api/v2/checks"):
                return None
            return self._job()
        if len(rest) == 2 and rest[0] == "jobs" and method == "GET":
            job = state.jobs.get(rest[1])
            if job is None:
                return self._problem(404, "no such job")
            job["polls"] += 1
            status = "finished" if job["polls"] >= 2 else "started"
            return self._send(200, {"id": rest[1], "status": status, "result": None})
        if rest == ["summary"]:
            hit = state.cached_version == state.version
            state.cached_version = state.version
            return self._send(200, {"servers": len(state.servers)}, {"X-Cache": "hit" if hit else "miss"})
        if rest == ["openapi.json"]:
            return self._send(200, {"openapi": "3.1.0", "paths": {}})
        if rest == ["users"] or rest[:1] == ["users"] or rest == ["audit"]:
            if user["role"] != "admin":
                return self._forbid(user, method, "/api/v2/" + rest[0])
            return self._users(method, rest, body)
        return self._problem(404, "not found")

    def _users(self, method: str, rest: list[str], body: Any) -> None:
        state = self.state
        if rest == ["audit"]:
            return self._send(200, {"items": [], "next_cursor": None})
        if rest == ["users"] and method == "GET":
            return self._send(
                200,
                {
                    "items": [
                        {"id": u["id"], "username": u["username"], "role": u["role"]}
                        for u in state.users.values()
                    ],
                    "next_cursor": None,
                },
            )
        if rest == ["users"] and method == "POST":
            if body.get("username") in state.users:
                return self._problem(409, "username taken")
            state.users[body["username"]] = {**body, "id": next(state.ids)}
            return self._send(201, {"id": state.users[body["username"]]["id"], "username": body["username"]})
        if len(rest) == 2 and method == "PATCH":
            match = next((u for u in state.users.values() if str(u["id"]) == rest[1]), None)
            if match is None:
                return self._problem(404, "no such user")
            match.update({k: v for k, v in body.items() if k in ("password", "role", "email")})
            return self._send(200, {"id": match["id"], "username": match["username"]})
        return self._problem(405, "method not allowed")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        server_id = next(self.state.ids)
        server = {
            "id": server_id,
            "status": "unknown",
            **{k: body.get(k) for k in ("name", "address", "port", "protocol", "tags", "owner")},
        }
        self.state.servers[server_id] = server
        self.state.version += 1
        return server

    def _list_servers(self, query: dict[str, str]) -> None:
        items = sorted(self.state.servers.values(), key=lambda s: s["id"])
        if "q" in query:
            items = [s for s in items if query["q"] in (s["name"] or "")]
        if "tag" in query:
            items = [s for s in items if query["tag"] in (s["tags"] or [])]
        if "status" in query:
            items = [s for s in items if s["status"] == query["status"]]
        start = int(query.get("cursor", 0))
        limit = int(query.get("limit", 50))
        page = items[start : start + limit]
        next_cursor = str(start + limit) if start + limit < len(items) else None
        body = json.dumps({"items": page, "next_cursor": next_cursor}).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        hit = self.state.cached_version == self.state.version
        self.state.cached_version = self.state.version
        headers = {"ETag": etag, "X-Cache": "hit" if hit else "miss"}
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, None, headers)
        return self._send(200, body, headers)

    def _one_server(self, user: dict[str, Any], method: str, raw_id: str, body: Any, route: str) -> None:
        server = self.state.servers.get(int(raw_id)) if raw_id.isdigit() else None
        if method == "GET":
            return self._send(200, server) if server else self._problem(404, "no such server")
        if not self._may_write(user, method, route):
            return None
        if server is None:
            return self._problem(404, "no such server")
        self.state.version += 1
        if method == "DELETE":
            del self.state.servers[server["id"]]
            return self._send(204)
        server.update({k: v for k, v in body.items() if k in server and k != "id"})
        return self._send(200, server)

    def _job(self) -> None:
        job_id = secrets.token_hex(8)
        self.state.jobs[job_id] = {"polls": 0}
        return self._send(202, {"job_id": job_id, "status_url": f"/api/v2/jobs/{job_id}"})

    def _v1(self, user: dict[str, Any], method: str, rest: list[str], body: Any) -> None:
        headers = {
            "Deprecation": "true",
            "Sunset": "Wed, 01 Jul 2026 00:00:00 GMT",
            "Link": '</api/v2/servers>; rel="successor-version"',
        }
        if rest == ["servers"] and method == "GET":
            return self._send(200, list(self.state.servers.values()), headers)
        if rest == ["servers"] and method == "POST":
            if not self._may_write(user, method, "/api/v1/servers"):
                return None
            return self._send(201, self._create(body), headers)
        if len(rest) == 2 and rest[0] == "servers":
            return self._one_server(
                user, "PATCH" if method == "PUT" else method, rest[1], body, "/api/v1/servers/<id>"
            )
        return self._problem(404, "not found")

    def _form_login(self, method: str, body: Any) -> None:
        if method == "GET":
            form = b'<form method="post"><input type="hidden" name="csrf_token" value="tok123"></form>'
            return self._send(200, form, content_type="text/html")
        user = self.state.users.get(body.get("username", ""))
        if user is None or user["password"] != body.get("password") or body.get("csrf_token") != "tok123":
            return self._send(200, b"bad login", content_type="text/html")
        sid = secrets.token_hex(8)
        self.state.sessions[sid] = user["username"]
        return self._send(302, None, {"Location": "/", "Set-Cookie": f"session={sid}; Path=/; HttpOnly"})

    def _oidc(self, parts: list[str], query: dict[str, str]) -> None:
        if not self.state.sso_configured:
            return self._problem(404, "single sign-on is not configured")
        if parts == ["auth", "oidc", "login"]:
            return self._send(302, None, {"Location": "https://idp.invalid/authorize?state=abc"})
        if parts == ["auth", "oidc", "callback"]:
            return self._problem(400, "invalid state")
        return self._problem(404, "not found")


class ContractServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, admin_password: str) -> None:
        super().__init__(("127.0.0.1", 0), ContractHandler)
        self.state = ContractState()
        self.state.users["admin"] = {
            "id": next(self.state.ids),
            "username": "admin",
            "password": admin_password,
            "role": "admin",
        }
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> ContractServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
