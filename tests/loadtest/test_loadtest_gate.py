"""The SLO gate's verdicts, messages and exit codes, on hand-made run metrics."""

from __future__ import annotations

import pytest
from panel_loadtest.gate import EXIT_ABORTED, EXIT_SLO_BREACHED, RunMetrics, evaluate
from panel_loadtest.scenarios import load_scenario
from panel_loadtest.settings import Thresholds
from panel_loadtest.stress import StepVerdict, StressResult
from panel_loadtest.timeline import SteadyThroughput

LOAD = load_scenario("load")
SMOKE = load_scenario("smoke")
STRESS = load_scenario("stress")


def healthy(**changes: object) -> RunMetrics:
    values: dict[str, object] = {
        "requests": 10_000,
        "failures": 10,
        "avg_ms": 120.0,
        "p95_ms": 400.0,
        "p99_ms": 900.0,
        "duration_s": 300.0,
        "throughput": SteadyThroughput(rps=130.0, seconds=240.0, users=50),
        "longest_success_gap_s": 1.0,
    }
    values.update(changes)
    return RunMetrics(**values)


def verdict(result, name):
    return next(v for v in result.verdicts if v.name == name)


def test_a_run_within_every_threshold_passes_with_exit_code_zero() -> None:
    result = evaluate(healthy(), Thresholds(), LOAD)
    assert result.passed
    assert result.exit_code == 0
    assert {v.name for v in result.verdicts if v.outcome == "passed"} == {
        "requests",
        "avg_response_time",
        "p95_response_time",
        "p99_response_time",
        "error_rate",
        "success_gap",
        "throughput",
    }
    assert verdict(result, "stress_capacity").outcome == "skipped"


@pytest.mark.parametrize(
    ("change", "name", "expected"),
    [
        (
            {"avg_ms": 750.0},
            "avg_response_time",
            "average 750 ms is not below 500 ms: over by 250 ms (50% over)",
        ),
        ({"p95_ms": 1500.0}, "p95_response_time", "p95 1500 ms is not below 1000 ms: over by 500 ms"),
        ({"p99_ms": 2000.0}, "p99_response_time", "p99 2000 ms is not below 2000 ms: over by 0 ms"),
        ({"failures": 300}, "error_rate", "error rate 3.00% is not below 1.00%: over by 2.00% (300 of 10000"),
        (
            {"throughput": SteadyThroughput(80.0, 240.0, 50)},
            "throughput",
            "throughput 80.0 req/s is below 100.0 req/s over 240 s steady at 50 users: "
            "short by 20.0 req/s (20%)",
        ),
    ],
)
def test_each_breach_fails_the_gate_and_says_by_how_much(change: dict, name: str, expected: str) -> None:
    result = evaluate(healthy(**change), Thresholds(), LOAD)
    assert not result.passed
    assert result.exit_code == EXIT_SLO_BREACHED
    assert [v.name for v in result.failures] == [name]
    assert expected in verdict(result, name).message
    assert expected in result.summary_line()


def test_required_throughput_scales_with_the_steady_user_count() -> None:
    # 100 req/s at 50 users is 2 req/s per user: 25 users need 50 req/s.
    ok = evaluate(healthy(throughput=SteadyThroughput(55.0, 100.0, 25)), Thresholds(), LOAD)
    short = evaluate(healthy(throughput=SteadyThroughput(45.0, 100.0, 25)), Thresholds(), LOAD)
    assert verdict(ok, "throughput").outcome == "passed"
    assert verdict(short, "throughput").limit == pytest.approx(50.0)
    assert verdict(short, "throughput").outcome == "failed"


def test_a_run_without_a_steady_phase_cannot_prove_its_throughput() -> None:
    result = evaluate(healthy(throughput=None), Thresholds(), LOAD)
    assert "no steady phase" in verdict(result, "throughput").message
    assert not result.passed


def test_min_rps_zero_turns_the_throughput_check_off() -> None:
    result = evaluate(healthy(throughput=None), Thresholds(min_rps=0), LOAD)
    assert verdict(result, "throughput").outcome == "skipped"
    assert result.passed


def test_smoke_does_not_judge_throughput() -> None:
    result = evaluate(healthy(throughput=SteadyThroughput(1.0, 50.0, 3)), Thresholds(), SMOKE)
    assert verdict(result, "throughput").outcome == "skipped"
    assert result.passed


def test_no_requests_at_all_is_a_failure_that_points_at_reachability() -> None:
    result = evaluate(healthy(requests=0, failures=0, throughput=None), Thresholds(), SMOKE)
    assert "no requests were made" in verdict(result, "requests").message
    assert result.exit_code == EXIT_SLO_BREACHED


def test_thresholds_set_beyond_reach_fail_with_a_clear_message() -> None:
    result = evaluate(healthy(), Thresholds(max_avg_ms=0.001, max_error_rate=0.0), SMOKE)
    assert {v.name for v in result.failures} == {"avg_response_time", "error_rate"}
    assert result.summary_line().startswith("SLO gate FAILED: average 120 ms is not below 0 ms")


def test_zero_error_budget_passes_a_flawless_run() -> None:
    result = evaluate(healthy(failures=0), Thresholds(max_error_rate=0.0), SMOKE)
    assert verdict(result, "error_rate").outcome == "passed"


def test_stress_is_judged_by_the_last_passing_user_count() -> None:
    steps = [
        StepVerdict(10, True, 50.0, 0.0, 20.0),
        StepVerdict(20, True, 90.0, 0.0, 40.0),
        StepVerdict(30, False, 700.0, 0.0, 41.0, "average 700 ms >= 500 ms"),
    ]
    broke_early = evaluate(healthy(stress=StressResult(20, 30, steps)), Thresholds(), STRESS)
    assert broke_early.failures[0].message == (
        "held the SLO only up to 20 users (broke at 30 users); needed 50: short by 30 users"
    )
    enough = evaluate(healthy(stress=StressResult(60, 70, steps)), Thresholds(), STRESS)
    assert enough.passed
    # Latency over the whole stress run is meaningless (it ramps until it breaks): not judged.
    assert verdict(enough, "avg_response_time").outcome == "skipped"


def test_an_aborted_run_is_an_error_not_a_breach() -> None:
    result = evaluate(healthy(requests=0), Thresholds(), SMOKE, aborted="cannot log in")
    assert result.exit_code == EXIT_ABORTED
    assert all(v.outcome == "skipped" for v in result.verdicts)
    assert result.summary_line() == "load test aborted: cannot log in"


def test_answers_slower_than_the_maximum_request_time_count_as_failures() -> None:
    """A hung request that finally answers must not pass as a success (issue 15 item 15)."""
    result = evaluate(healthy(failures=0, slow_requests=150), Thresholds(), SMOKE)
    rate = verdict(result, "error_rate")
    assert rate.outcome == "failed" and rate.observed == 0.015
    assert "150 of 10000 requests failed, 150 of them by taking longer than 10000 ms" in rate.message
    assert "LOADTEST_MAX_REQUEST_MS" in rate.message
    assert result.exit_code == EXIT_SLO_BREACHED


def test_a_stretch_without_any_success_fails_and_names_the_threshold() -> None:
    result = evaluate(healthy(longest_success_gap_s=19.9), Thresholds(), SMOKE)
    gap = verdict(result, "success_gap")
    assert gap.outcome == "failed" and result.exit_code == EXIT_SLO_BREACHED
    assert gap.message.startswith("no request succeeded for 19.9 s while users were running, not below 10 s")
    assert "LOADTEST_MAX_SUCCESS_GAP_S" in result.summary_line()
    relaxed = evaluate(healthy(longest_success_gap_s=19.9), Thresholds(max_success_gap_s=30), SMOKE)
    assert verdict(relaxed, "success_gap").outcome == "passed"
    off = evaluate(healthy(longest_success_gap_s=19.9), Thresholds(max_success_gap_s=0), SMOKE)
    assert verdict(off, "success_gap").outcome == "skipped" and off.passed
