"""Steady-phase throughput and the stress ramp's step decisions, on synthetic snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from panel_loadtest.scenarios import StressRamp
from panel_loadtest.settings import Thresholds
from panel_loadtest.stress import StressController
from panel_loadtest.timeline import Snapshot, WindowMetrics, steady_throughput


def snap(
    t: float, requests: int, steady: bool = True, users: int = 50, failures: int = 0, rt_sum: float = 0.0
) -> Snapshot:
    return Snapshot(t, users, requests, failures, rt_sum, steady)


def test_ramp_up_does_not_dilute_steady_throughput() -> None:
    # 10 s ramp at 20 req/s, then 20 s steady at 100 req/s: the whole-run average would be 73 req/s.
    snapshots = [snap(0, 0, False, 0), snap(10, 200, False, 25)]
    snapshots += [snap(10 + i, 200 + 100 * i) for i in range(1, 21)]
    result = steady_throughput(snapshots)
    assert result is not None
    assert result.rps == pytest.approx(100.0)
    assert result.seconds == pytest.approx(19.0)
    assert result.users == 50


def test_no_steady_interval_means_no_throughput() -> None:
    assert steady_throughput([snap(0, 0, False), snap(1, 10, True), snap(2, 20, False)]) is None
    assert steady_throughput([]) is None


@given(st.lists(st.integers(min_value=0, max_value=500), min_size=2, max_size=30))
def test_steady_throughput_equals_requests_over_time_for_an_all_steady_run(increments: list[int]) -> None:
    total, snapshots = 0, []
    for second, increment in enumerate(increments):
        total += increment
        snapshots.append(snap(float(second), total))
    result = steady_throughput(snapshots)
    assert result is not None
    assert result.rps == pytest.approx((total - increments[0]) / (len(increments) - 1))


def test_window_metrics_are_deltas() -> None:
    window = WindowMetrics.between(
        snap(10, 100, failures=1, rt_sum=1000), snap(20, 300, failures=5, rt_sum=9000)
    )
    assert (window.requests, window.failures, window.rps) == (200, 4, 20.0)
    assert window.avg_ms == pytest.approx(40.0)
    assert window.error_rate == pytest.approx(0.02)
    empty = WindowMetrics.between(snap(1, 5), snap(2, 5))
    assert empty.avg_ms is None and empty.error_rate is None


def drive(controller: StressController, latency_by_users: dict[int, float], seconds: int) -> list:
    """Feed one snapshot per second; each user makes 1 request per second at the given latency."""
    requests, rt_sum, ticks = 0, 0.0, []
    for second in range(seconds):
        tick = controller.tick(snap(float(second), requests, users=0, rt_sum=rt_sum))
        ticks.append(tick)
        if tick is None:
            break
        users = tick[0]
        requests += users
        rt_sum += users * latency_by_users[users]
    return ticks


def test_stress_climbs_until_a_step_breaks_and_reports_the_last_good_one() -> None:
    ramp = StressRamp(start_users=10, step_users=10, step_duration=10, max_users=100, spawn_rate=10)
    controller = StressController(ramp, Thresholds(max_avg_ms=500))
    latency = {10: 50.0, 20: 120.0, 30: 480.0, 40: 900.0}
    ticks = drive(controller, latency, 100)
    assert [t[0] for t in ticks if t] == [10] * 10 + [20] * 10 + [30] * 10 + [40] * 10
    assert ticks[-1] is None
    result = controller.result()
    assert result.last_passing_users == 30
    assert result.breaking_users == 40
    assert "average 900 ms >= 500 ms" in result.steps[-1].reason


def test_stress_stops_at_max_users_when_nothing_breaks() -> None:
    ramp = StressRamp(start_users=5, step_users=5, step_duration=4, max_users=15, spawn_rate=5)
    controller = StressController(ramp, Thresholds())
    drive(controller, {5: 10.0, 10: 10.0, 15: 10.0}, 40)
    result = controller.result()
    assert (result.last_passing_users, result.breaking_users) == (15, None)
    assert [s.users for s in result.steps] == [5, 10, 15]


def test_a_step_without_completed_requests_is_a_breach() -> None:
    controller = StressController(StressRamp(start_users=1, step_duration=2), Thresholds())
    for second in range(4):
        if controller.tick(snap(float(second), 0, users=0)) is None:
            break
    assert controller.result().steps[0].reason == "no requests completed"


def test_longest_success_gap_covers_hangs_and_fast_failures_but_not_idle_time() -> None:
    from panel_loadtest.timeline import Snapshot, longest_success_gap

    def snap(elapsed: float, users: int, requests: int, failures: int = 0) -> Snapshot:
        return Snapshot(elapsed, users, requests, failures, 0.0)

    hang = [
        snap(0, 3, 0),
        snap(1, 3, 10),
        snap(2, 3, 20),
        *[snap(t, 3, 20) for t in range(3, 23)],
        snap(23, 3, 30),
    ]
    assert (
        longest_success_gap(hang) == 20
    )  # from the last success seen (2 s) to the last snapshot without one
    failing = [snap(0, 3, 0), snap(1, 3, 10), snap(6, 3, 60, 50), snap(7, 3, 70, 50)]
    assert longest_success_gap(failing) == 5  # requests kept completing, all failed
    idle = [snap(0, 0, 0), snap(30, 0, 0), snap(31, 3, 5), snap(32, 3, 10)]
    assert longest_success_gap(idle) == 0  # no users: no gap; a success a second after they start
    assert longest_success_gap([snap(0, 0, 0)]) is None
