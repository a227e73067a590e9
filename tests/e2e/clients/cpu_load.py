"""In-cluster client: keep THREADS token sign-ins in flight against the web Service (each one verifies an
Argon2 hash: CPU work for the web pods) until STOP_FILE appears or MAX_SECONDS pass."""

# ruff: noqa: S310  (the test sets every URL: http to the web Service, nothing else)

import json
import os
import threading
import time
import urllib.request

url = os.environ["BASE_URL"] + "/api/v2/auth/token"
body = json.dumps({"username": os.environ["ADMIN"], "password": os.environ["PASSWORD"]}).encode()
stop_file = os.environ.get("STOP_FILE", "/tmp/stop")
deadline = time.monotonic() + float(os.environ.get("MAX_SECONDS", "600"))
counts = {"ok": 0, "failed": 0}


def sign_in_repeatedly() -> None:
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                counts["ok"] += 1
        except Exception:
            counts["failed"] += 1
            time.sleep(0.5)


threads = [threading.Thread(target=sign_in_repeatedly) for _ in range(int(os.environ.get("THREADS", "6")))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(counts, flush=True)
