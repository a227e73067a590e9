"""Schemathesis's stateful mode: sequences of calls that follow the document's links.

Register a server, then read, change, check or delete it; check it (or everything) and poll the
job; create a user, then change it. Every step's answer is validated as in the stateless run (no
5xx; status, content type, headers and body as documented; authentication enforced). The test also
asserts that each documented link was followed with its value applied and answered with a success,
so a link whose expression the app does not honour fails here rather than going quiet.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from api_fuzzing import fuzzed_app, load_schema, reset
from flask import Flask
from hypothesis import HealthCheck, settings

LINKS = {"GetServer", "UpdateServer", "DeleteServer", "CheckServer", "GetJob", "UpdateUser"}


@pytest.fixture(scope="module")
def fuzz_app(postgres_server: Any, redis_server: Any) -> Iterator[Flask]:
    with fuzzed_app(postgres_server, redis_server, redis_db=4) as app:
        yield app


def test_linked_calls_conform_and_never_fail(fuzz_app: Flask) -> None:
    linked = load_schema(fuzz_app, max_examples=25).as_state_machine()
    followed: Counter[str] = Counter()

    class Scenario(linked):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Every scenario starts from the same data: Hypothesis replays and shrinks scenarios, and a
            # name taken by an earlier one would turn a 201 into a 409 and the replay into another path.
            reset(fuzz_app)

        def step(self, input: Any) -> Any:
            output = super().step(input)
            transition = input.transition
            if transition is not None and not transition.is_inferred and input.is_applied:
                # The id reads "POST /servers -> [201] GetServer -> GET /servers/{server_id}".
                link = re.search(r"\] (\w+) ->", transition.id)
                if link and output.response.status_code < 300:
                    followed[link.group(1)] += 1
            return output

    Scenario.run(
        settings=settings(
            max_examples=200,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert set(followed) >= LINKS, f"links never followed to a success: {sorted(LINKS - set(followed))}"
