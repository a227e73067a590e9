"""The stress ramp's decisions: climb step by step, judge each step, stop at the first breach.

Kept free of Locust so the decision logic is unit-tested directly; the Locust shape only
feeds it the elapsed time and a snapshot of the running totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panel_loadtest.scenarios import StressRamp
from panel_loadtest.settings import Thresholds
from panel_loadtest.timeline import Snapshot, WindowMetrics


@dataclass
class StepVerdict:
    users: int
    passed: bool
    avg_ms: float | None
    error_rate: float | None
    rps: float
    reason: str = ""


@dataclass
class StressResult:
    last_passing_users: int
    breaking_users: int | None
    steps: list[StepVerdict]

    @property
    def broke(self) -> bool:
        return self.breaking_users is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "last_passing_users": self.last_passing_users,
            "breaking_users": self.breaking_users,
            "steps": [step.__dict__ for step in self.steps],
        }


@dataclass
class StressController:
    ramp: StressRamp
    thresholds: Thresholds
    steps: list[StepVerdict] = field(default_factory=list)
    _settled: Snapshot | None = None
    _step_index: int = 0
    finished: bool = False

    def users_for_step(self, index: int) -> int:
        return min(self.ramp.start_users + index * self.ramp.step_users, self.ramp.max_users)

    def judge(self, users: int, window: WindowMetrics) -> StepVerdict:
        """Pass or fail one step by its settled window (average latency and error rate)."""
        reasons = []
        if window.requests == 0:
            reasons.append("no requests completed")
        else:
            assert window.avg_ms is not None and window.error_rate is not None
            if window.avg_ms >= self.thresholds.max_avg_ms:
                reasons.append(f"average {window.avg_ms:.0f} ms >= {self.thresholds.max_avg_ms:.0f} ms")
            if window.error_rate >= self.thresholds.max_error_rate:
                reasons.append(f"error rate {window.error_rate:.2%} >= {self.thresholds.max_error_rate:.2%}")
        return StepVerdict(
            users=users,
            passed=not reasons,
            avg_ms=window.avg_ms,
            error_rate=window.error_rate,
            rps=window.rps,
            reason="; ".join(reasons),
        )

    def tick(self, now: Snapshot) -> tuple[int, float] | None:
        """The (users, spawn rate) to run now, or None when the ramp is over."""
        if self.finished:
            return None
        step_length = self.ramp.step_duration
        index = int(now.elapsed // step_length)
        if index > self._step_index:
            # The previous step just ended: judge it on its settled part.
            users = self.users_for_step(self._step_index)
            if self._settled is not None:
                verdict = self.judge(users, WindowMetrics.between(self._settled, now))
            else:
                verdict = StepVerdict(users, False, None, None, 0.0, "step too short to measure")
            self.steps.append(verdict)
            if not verdict.passed or users >= self.ramp.max_users:
                self.finished = True
                return None
            self._step_index = index
            self._settled = None
        if self._settled is None and now.elapsed >= (index + self.ramp.settle_fraction) * step_length:
            self._settled = now
        return self.users_for_step(self._step_index), self.ramp.spawn_rate

    def result(self) -> StressResult:
        passing = [step.users for step in self.steps if step.passed]
        failing = [step.users for step in self.steps if not step.passed]
        return StressResult(
            last_passing_users=max(passing, default=0),
            breaking_users=failing[0] if failing else None,
            steps=list(self.steps),
        )
