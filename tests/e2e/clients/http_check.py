"""In-cluster client: through the web Service, the login page, a token for ADMIN/PASSWORD, create a server
and find it in the listing (API v2); then a check of every server, run by the worker, must finish."""

# ruff: noqa: S310  (the test sets every URL: http to the web Service, nothing else)

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

BASE = os.environ["BASE_URL"]


def call(method: str, path: str, body: Any = None, token: str = "") -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, method=method, data=data)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode()


# NetworkPolicy enforcement admits a brand-new pod only once kube-router has seen it (as steady_traffic
# says): until then its connections are refused. Wait for the first answer, then nothing is retried.
started = time.monotonic()
while True:
    try:
        status, page = call("GET", "/login")
        break
    except urllib.error.URLError as error:
        if not isinstance(error.reason, ConnectionRefusedError) or time.monotonic() - started > 60:
            raise
        time.sleep(0.5)
print(f"first answer after {time.monotonic() - started:.1f} s")
assert status == 200 and "<form" in page, (status, page[:200])
credentials = {"username": os.environ["ADMIN"], "password": os.environ["PASSWORD"]}
status, body = call("POST", "/api/v2/auth/token", credentials)
token = json.loads(body)["access_token"]
server = {"name": "e2e-db", "address": "10.245.0.1", "port": 5432}
status, body = call("POST", "/api/v2/servers", server, token)
assert status == 201, (status, body)
status, body = call("GET", "/api/v2/servers", token=token)
names = [item["name"] for item in json.loads(body)["items"]]
assert "e2e-db" in names, body
print("login 200, token issued, server created and listed:", names)

# The worker runs the fan-out job; it must finish (it failed when the worker could not write its metrics).
status, body = call("POST", "/api/v2/checks", token=token)
assert status == 202, (status, body)
job_url = json.loads(body)["status_url"]
deadline = time.monotonic() + 120
job = {"status": "queued"}
while job["status"] in ("queued", "started") and time.monotonic() < deadline:
    time.sleep(1)
    job = json.loads(call("GET", job_url, token=token)[1])
print("check-all job:", job)
assert job["status"] == "finished", job
