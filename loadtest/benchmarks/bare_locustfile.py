"""The baseline for the generation benchmark: a bare FastHttpUser doing one GET, no think time."""

from locust import FastHttpUser, constant, task


class BareGetUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/api/v2/summary")
