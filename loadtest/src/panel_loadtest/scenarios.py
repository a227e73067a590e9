"""Scenario definitions: packaged YAML files (or your own file) validated into typed models.

A scenario is either a list of stages (hold N users for D seconds) or a stress ramp that
climbs until the SLO breaks. Every duration is multiplied by one scale factor so CI can run
a one-minute `load` test with the same shape as the five-minute one.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

THRESHOLD_NAMES = (
    "requests",
    "avg_response_time",
    "p95_response_time",
    "p99_response_time",
    "error_rate",
    "success_gap",
    "throughput",
    "stress_capacity",
)
ThresholdName = Literal[
    "requests",
    "avg_response_time",
    "p95_response_time",
    "p99_response_time",
    "error_rate",
    "success_gap",
    "throughput",
    "stress_capacity",
]

DEFAULT_JUDGED: list[ThresholdName] = [
    "requests",
    "avg_response_time",
    "p95_response_time",
    "p99_response_time",
    "error_rate",
    "success_gap",
]

# Locust warns above 100 spawns/s per process; scaled-down ramps never ask for more.
MAX_SPAWN_RATE = 100.0


class ScenarioError(Exception):
    """A scenario name or file that cannot be used; the message says what to fix."""


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float = Field(gt=0, description="seconds this stage lasts (before scaling)")
    users: int = Field(ge=0)
    spawn_rate: float = Field(default=10.0, gt=0, description="users started or stopped per second")
    steady: bool = Field(default=True, description="whether throughput is judged during this stage")


class StressRamp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_users: int = Field(default=10, gt=0)
    step_users: int = Field(default=10, gt=0)
    step_duration: float = Field(default=60.0, gt=0, description="seconds per step (before scaling)")
    max_users: int = Field(default=500, gt=0)
    spawn_rate: float = Field(default=10.0, gt=0)
    settle_fraction: float = Field(
        default=0.5, ge=0, lt=1, description="first part of each step left out of its verdict (ramp-up noise)"
    )


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    description: str = ""
    kind: Literal["stages", "stress"] = "stages"
    stages: Annotated[list[Stage], Field(default_factory=list)]
    stress: StressRamp | None = None
    one_user_per_role: bool = Field(
        default=False,
        description="spawn exactly one admin, one operator and one viewer (stages must ask for 3 users)",
    )
    judge: list[ThresholdName] = Field(default_factory=lambda: list(DEFAULT_JUDGED))

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> Scenario:
        if self.kind == "stages" and not self.stages:
            raise ValueError("a 'stages' scenario needs at least one stage")
        if self.kind == "stress" and self.stress is None:
            raise ValueError("a 'stress' scenario needs a 'stress:' block")
        return self

    def scaled(self, factor: float) -> Scenario:
        """A copy with every duration multiplied by ``factor`` and ramps sped up to match."""
        if factor <= 0:
            raise ScenarioError("the duration scale must be above 0")
        speedup = 1 / min(factor, 1.0)
        stages = [
            stage.model_copy(
                update={
                    "duration": stage.duration * factor,
                    "spawn_rate": min(stage.spawn_rate * speedup, MAX_SPAWN_RATE),
                }
            )
            for stage in self.stages
        ]
        stress = None
        if self.stress is not None:
            stress = self.stress.model_copy(
                update={
                    "step_duration": self.stress.step_duration * factor,
                    "spawn_rate": min(self.stress.spawn_rate * speedup, MAX_SPAWN_RATE),
                }
            )
        return self.model_copy(update={"stages": stages, "stress": stress})

    @property
    def total_duration(self) -> float:
        """Planned length in seconds (for stress: the length if it never breaks)."""
        if self.stress is not None:
            steps = math.ceil((self.stress.max_users - self.stress.start_users) / self.stress.step_users) + 1
            return steps * self.stress.step_duration
        return sum(stage.duration for stage in self.stages)

    def stage_at(self, elapsed: float) -> Stage | None:
        """The stage running ``elapsed`` seconds into the run, or None once the scenario is over."""
        end = 0.0
        for stage in self.stages:
            end += stage.duration
            if elapsed < end:
                return stage
        return None

    @property
    def peak_users(self) -> int:
        if self.stress is not None:
            return self.stress.max_users
        return max(stage.users for stage in self.stages)


def packaged_scenario_names() -> list[str]:
    folder = resources.files("panel_loadtest") / "scenarios"
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A packaged scenario by name (``smoke``) or a YAML file by path (``./my-scenario.yaml``)."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        path = Path(name_or_path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ScenarioError(f"scenario file {path} cannot be read: {exc.strerror}") from None
        origin = str(path)
    else:
        if name_or_path not in packaged_scenario_names():
            known = ", ".join(packaged_scenario_names())
            raise ScenarioError(
                f"unknown scenario {name_or_path!r}; choose one of {known} or give a YAML file path"
            )
        text = (resources.files("panel_loadtest") / "scenarios" / f"{name_or_path}.yaml").read_text()
        origin = f"packaged scenario {name_or_path}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{origin} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin} must be a YAML mapping with at least 'name' and 'stages' or 'stress'")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'scenario'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScenarioError(f"{origin} is invalid: {problems}") from None
