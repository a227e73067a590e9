"""In-cluster client: resolve every name in NAMES (comma-separated) through the cluster DNS."""

import os
import socket

for name in os.environ["NAMES"].split(","):
    print(name, socket.gethostbyname(name))
