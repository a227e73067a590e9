"""A locustfile override (LOADTEST_LOCUSTFILE) whose viewer tries to write.

The real panel must answer 403, the load test must count it as a failure, and the gate must
fail on the error rate: the proof that a viewer's write would never pass unnoticed.
"""

from __future__ import annotations

from locust import tag, task
from panel_loadtest.locustfile import *  # noqa: F403 - the packaged shape, hooks and users
from panel_loadtest.users import ViewerUser


class RogueViewerUser(ViewerUser):
    """A viewer that also tries to create a server, which its role forbids."""

    @tag("write")
    @task(20)
    def try_to_create_a_server(self) -> None:
        body = {"name": "rogue-viewer", "address": "127.0.0.1", "port": 9, "protocol": "tcp", "tags": []}
        self.api("POST", "/api/v2/servers", "/api/v2/servers", expect=(201,), json=body)
