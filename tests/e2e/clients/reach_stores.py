"""Client (a pod, or `kubectl exec` in the chart's own pods): TCP connect to each HOST:PORT in TARGETS.
Exit 0 when every one connects, 3 when any is refused or times out."""

import os
import socket
import sys

results = {}
for target in os.environ["TARGETS"].split(","):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        results[target] = "open"
    except OSError as error:
        results[target] = type(error).__name__
print(results)
sys.exit(0 if all(value == "open" for value in results.values()) else 3)
