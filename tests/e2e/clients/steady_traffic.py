"""In-cluster client: GET URL without pause (a new connection each time, 5 s timeout) until the file
STOP_FILE appears or MAX_SECONDS pass; prints every failure and a final `ok N failed M`. Exit 1 if any
request failed.

Counting starts with the first answer, announced by a `serving` line: NetworkPolicy enforcement admits a
new pod's traffic only once the policy engine has seen the pod (kube-router: its next sync), so the very
first connections of a brand-new client may be refused. The tests wait for `serving` before they act."""

# ruff: noqa: S310  (the test sets every URL: http to the web Service, nothing else)

import os
import time
import urllib.request

url = os.environ["URL"]
stop_file = os.environ.get("STOP_FILE", "/tmp/stop")
deadline = time.monotonic() + float(os.environ.get("MAX_SECONDS", "600"))
ok = failed = 0
while not os.path.exists(stop_file) and time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            if not ok:
                print("serving", flush=True)
            ok += 1
    except Exception as error:
        if ok:
            failed += 1
            print(time.strftime("%H:%M:%S"), "failed:", repr(error)[:200], flush=True)
    time.sleep(0.05)
print("ok", ok, "failed", failed, flush=True)
raise SystemExit(1 if failed or not ok else 0)
