"""JSON summary and JUnit XML: one test case per threshold, failures carrying the gate's message."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from panel_loadtest.counters import Counters
from panel_loadtest.gate import RunMetrics, evaluate
from panel_loadtest.reports import JUNIT_FILE, SUMMARY_FILE, build_summary, junit_xml, write_reports
from panel_loadtest.scenarios import THRESHOLD_NAMES, load_scenario
from panel_loadtest.settings import Thresholds
from panel_loadtest.timeline import SteadyThroughput

LOAD = load_scenario("load")
METRICS = RunMetrics(
    1000, 50, 700.0, 900.0, 1200.0, 60.0, SteadyThroughput(120.0, 50.0, 50), longest_success_gap_s=0.5
)


def test_junit_has_one_case_per_threshold_with_failures_and_skips() -> None:
    gate = evaluate(METRICS, Thresholds(), LOAD)
    suite = ET.fromstring(junit_xml(gate, "load", 60.0)).find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == list(THRESHOLD_NAMES)
    assert suite.get("tests") == str(len(THRESHOLD_NAMES))
    assert suite.get("failures") == "2" and suite.get("skipped") == "1"
    failure = cases["avg_response_time"].find("failure")
    assert failure is not None and "over by 200 ms" in (failure.get("message") or "")
    assert cases["error_rate"].find("failure") is not None
    assert cases["stress_capacity"].find("skipped") is not None
    assert cases["throughput"].find("failure") is None and cases["throughput"].find("skipped") is None


def test_an_aborted_run_is_one_junit_error() -> None:
    gate = evaluate(METRICS, Thresholds(), LOAD, aborted="the panel refused to log in")
    suite = ET.fromstring(junit_xml(gate, "load", 0.0)).find("testsuite")  # noqa: S314 - our own report
    assert suite is not None and suite.get("errors") == "1" and suite.get("failures") == "0"
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == "the panel refused to log in"


def test_reports_are_written_and_the_summary_holds_the_numbers(tmp_path: Path) -> None:
    gate = evaluate(METRICS, Thresholds(), LOAD)
    counters = Counters()
    counters.record_cache_header("hit")
    counters.record_cache_header("HIT")
    counters.record_cache_header("miss")
    summary = build_summary(
        scenario=LOAD,
        duration_scale=0.2,
        target="http://panel",
        metrics=METRICS,
        thresholds=Thresholds(),
        gate=gate,
        counters=counters.summary(),
        per_request=[],
    )
    paths = write_reports(tmp_path / "out", summary, gate, "load", 60.0)
    assert [p.name for p in paths] == [SUMMARY_FILE, JUNIT_FILE]
    data = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text())
    assert data["gate"]["passed"] is False and data["gate"]["exit_code"] == 99
    assert data["totals"]["error_rate"] == 0.05
    assert data["steady"] == {"rps": 120.0, "seconds": 50.0, "users": 50}
    assert data["behaviour"]["cache_hit_ratio"] == 2 / 3
    assert data["scenario"] == {"name": "load", "kind": "stages", "duration_scale": 0.2}


def test_counters_survive_the_trip_from_worker_to_master() -> None:
    worker, master = Counters(), Counters()
    worker.record_job("finished", 1.5)
    worker.record_job("failed", 3.0)
    worker.record_job("timed_out", 4.5)
    worker.add("etag_not_modified", 3)
    master.merge(worker.drain())
    assert not worker.counts, "drain resets the worker so nothing is counted twice"
    master.merge(worker.drain())
    summary = master.summary()
    assert summary["counts"] == {
        "etag_not_modified": 3,
        "jobs_failed": 1,
        "jobs_finished": 1,
        "jobs_timed_out": 1,
    }
    assert summary["job_wait_avg_s"] == 3.0 and summary["job_wait_max_s"] == 4.5


def test_the_html_report_opens_with_the_slo_table(tmp_path: Path) -> None:
    """The page a person opens shows threshold, limit, measured and result (issue 15 item 17)."""
    from panel_loadtest.reports import VERDICT_MARKER, add_verdict_to_html

    page = tmp_path / "report.html"
    page.write_text(
        '<html><head><script>var s="<body x>";</script></head>\n<body>\n<div id="root"></div></body></html>'
    )
    gate = evaluate(METRICS, Thresholds(), LOAD)
    assert add_verdict_to_html(page, gate, "load")
    text = page.read_text()
    body = text.index("<body>")
    section = text.index(VERDICT_MARKER)
    assert body < section < text.index('<div id="root">')  # inside the body, above Locust's own report
    assert "SLO verdict (load): FAILED, exit code 99" in text
    assert "<td>avg_response_time</td><td>500 ms</td><td>700 ms</td>" in text
    assert ">failed</td>" in text and ">skipped</td>" in text and ">passed</td>" in text
    assert add_verdict_to_html(page, gate, "load") and page.read_text().count(VERDICT_MARKER) == 1
    assert not add_verdict_to_html(tmp_path / "missing.html", gate, "load")
