"""A canned-response HTTP server that answers the panel's routes instantly (asyncio, one process).

For the generation-capacity benchmark only: every answer is precomputed, so the server costs far
less CPU per request than Locust spends producing one and the measurement is of the generator.
"""

from __future__ import annotations

import asyncio
import json
import sys

ETAG = '"constant-etag"'


def _response(
    status: int, body: bytes = b"", content_type: str = "application/json", extra: str = ""
) -> bytes:
    reason = {
        200: "OK",
        201: "Created",
        202: "Accepted",
        204: "No Content",
        302: "Found",
        304: "Not Modified",
        400: "Bad Request",
        404: "Not Found",
    }[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


TOKEN = _response(
    200,
    json.dumps(
        {"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 3600}
    ).encode(),
)
SERVER = {
    "id": 1,
    "name": "s1",
    "address": "127.0.0.1",
    "port": 80,
    "protocol": "http",
    "tags": [],
    "owner": "admin",
    "status": "up",
}
LIST = _response(
    200,
    json.dumps({"items": [SERVER] * 5, "next_cursor": None}).encode(),
    extra=f"ETag: {ETAG}\r\nX-Cache: hit\r\n",
)
NOT_MODIFIED = _response(304, extra=f"ETag: {ETAG}\r\nX-Cache: hit\r\n")
LIST_V1 = _response(200, json.dumps([SERVER] * 5).encode(), extra="Deprecation: true\r\n")
ONE = _response(200, json.dumps(SERVER).encode(), extra="X-Cache: hit\r\n")
CREATED = _response(201, json.dumps(SERVER).encode())
DELETED = _response(204)
ACCEPTED = _response(202, json.dumps({"job_id": "j1", "status_url": "/api/v2/jobs/j1"}).encode())
JOB = _response(200, json.dumps({"id": "j1", "status": "finished", "result": None}).encode())
LOGIN_PAGE = _response(200, b'<input type="hidden" name="csrf_token" value="c">', "text/html")
LOGGED_IN = _response(302, extra="Location: /\r\nSet-Cookie: session=s; Path=/\r\n")
PAGE = _response(200, b"<html>ok</html>", "text/html")
REDIRECT_IDP = _response(302, extra="Location: https://idp.invalid/authorize\r\n")
BAD_REQUEST = _response(400, b"{}")
EMPTY = _response(200, b"{}")


def route(method: str, path: str, headers: bytes) -> bytes:
    path = path.split("?", 1)[0]
    if path.startswith("/api/v2/auth/"):
        return TOKEN
    if path in ("/login",):
        return LOGIN_PAGE if method == "GET" else LOGGED_IN
    if path.startswith("/auth/oidc/login"):
        return REDIRECT_IDP
    if path.startswith("/auth/oidc/callback"):
        return BAD_REQUEST
    if method == "DELETE":
        return DELETED
    if method == "POST":
        if path.endswith("/check") or path == "/api/v2/checks":
            return ACCEPTED
        return CREATED if path.endswith("/servers") else EMPTY
    if method in ("PATCH", "PUT"):
        return ONE
    if path == "/api/v2/servers":
        return NOT_MODIFIED if ETAG.encode() in headers else LIST
    if path == "/api/v1/servers":
        return LIST_V1
    if path.startswith("/api/v2/jobs/"):
        return JOB
    if path.startswith(("/api/v2/servers/", "/api/v1/servers/", "/api/v2/summary")):
        return ONE
    if path == "/":
        return PAGE
    return EMPTY


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, headers = head.partition(b"\r\n")
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            marker = b"content-length:"
            lowered = headers.lower()
            if marker in lowered:
                length = int(lowered.split(marker, 1)[1].split(b"\r\n", 1)[0])
                if length:
                    await reader.readexactly(length)
            writer.write(route(method, path, headers))
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
