"""LoadTestShape classes: one per scenario, generated from its definition and chosen by name."""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.runners import Runner

from panel_loadtest import runtime
from panel_loadtest.scenarios import Scenario
from panel_loadtest.timeline import Snapshot


def snapshot(runner: Runner, elapsed: float, steady: bool = False) -> Snapshot:
    total = runner.stats.total
    return Snapshot(
        elapsed=elapsed,
        users=runner.user_count,
        requests=total.num_requests,
        failures=total.num_failures,
        response_time_sum_ms=float(total.total_response_time),
        steady=steady,
    )


class ScenarioShape(LoadTestShape):
    """Runs the current scenario: its stages in order, or the stress ramp until the SLO breaks."""

    abstract = True

    def tick(self) -> tuple[int, float] | None:
        ctx = runtime.current()
        if ctx.aborted:
            return None
        elapsed = self.get_run_time()
        if ctx.stress is not None:
            assert self.runner is not None
            return ctx.stress.tick(snapshot(self.runner, elapsed))
        stage = ctx.scenario.stage_at(elapsed)
        return None if stage is None else (stage.users, stage.spawn_rate)


def shape_class_for(scenario: Scenario) -> type[ScenarioShape]:
    """A concrete shape class named after the scenario (``load`` -> ``LoadShape``)."""
    class_name = "".join(part.capitalize() for part in scenario.name.split("-")) + "Shape"
    return type(class_name, (ScenarioShape,), {"abstract": False, "__doc__": scenario.description})


class RunClock:
    """Seconds since the test started, shared by the sampler and the steady-phase lookup."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started
