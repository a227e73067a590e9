"""Machine-readable results: a JSON summary and JUnit XML with one test case per threshold.

Locust itself writes the HTML report and the CSV files next to these (``--html``/``--csv``).
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from panel_loadtest.gate import GateResult, RunMetrics
from panel_loadtest.scenarios import Scenario
from panel_loadtest.settings import Thresholds

SUMMARY_FILE = "summary.json"
JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"
VERDICT_MARKER = "panel-loadtest-verdict"


def build_summary(
    *,
    scenario: Scenario,
    duration_scale: float,
    target: str,
    metrics: RunMetrics,
    thresholds: Thresholds,
    gate: GateResult,
    counters: dict[str, object],
    per_request: list[dict[str, object]],
) -> dict[str, object]:
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target,
        "scenario": {"name": scenario.name, "kind": scenario.kind, "duration_scale": duration_scale},
        "totals": {
            "requests": metrics.requests,
            "failures": metrics.failures,
            "slow_requests": metrics.slow_requests,
            "failed_requests": metrics.failed_requests,
            "error_rate": metrics.error_rate,
            "longest_success_gap_s": metrics.longest_success_gap_s,
            "avg_ms": metrics.avg_ms,
            "p95_ms": metrics.p95_ms,
            "p99_ms": metrics.p99_ms,
            "duration_s": metrics.duration_s,
            "whole_run_rps": metrics.requests / metrics.duration_s if metrics.duration_s else 0.0,
        },
        "steady": asdict(metrics.throughput) if metrics.throughput else None,
        "stress": metrics.stress.as_dict() if metrics.stress else None,
        "thresholds": thresholds.model_dump(),
        "gate": gate.as_dict(),
        "behaviour": counters,
        "requests": per_request,
    }


def junit_xml(gate: GateResult, scenario_name: str, duration_s: float) -> bytes:
    """JUnit XML: a suite per run, a case per threshold (failed / skipped / passed)."""
    suite = ET.Element(
        "testsuite",
        name=f"loadtest.{scenario_name}",
        tests=str(len(gate.verdicts) + (1 if gate.aborted else 0)),
        failures=str(len(gate.failures)),
        errors="1" if gate.aborted else "0",
        skipped=str(sum(1 for v in gate.verdicts if v.outcome == "skipped")),
        time=f"{duration_s:.3f}",
    )
    if gate.aborted:
        case = ET.SubElement(suite, "testcase", classname=f"slo.{scenario_name}", name="run", time="0")
        ET.SubElement(case, "error", message=gate.aborted).text = gate.aborted
    for verdict in gate.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"slo.{scenario_name}", name=verdict.name, time="0")
        if verdict.outcome == "failed":
            ET.SubElement(case, "failure", message=verdict.message, type="SLOBreach").text = verdict.message
        elif verdict.outcome == "skipped":
            ET.SubElement(case, "skipped", message=verdict.message)
        else:
            ET.SubElement(case, "system-out").text = verdict.message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_reports(
    report_dir: Path, summary: dict[str, object], gate: GateResult, scenario_name: str, duration_s: float
) -> list[Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    summary_path = report_dir / SUMMARY_FILE
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    junit_path = report_dir / JUNIT_FILE
    junit_path.write_bytes(junit_xml(gate, scenario_name, duration_s))
    return [summary_path, junit_path]


def _cell(value: float | None, unit: str, name: str) -> str:
    if value is None:
        return "-"
    if name == "error_rate":
        return f"{value:.2%}"
    shown = f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}".removesuffix(".0")
    return f"{shown}{unit}"


def verdict_html(gate: GateResult, scenario_name: str) -> str:
    """A self-contained section: the verdict line and one row per threshold (limit, measured, outcome)."""
    colours = {"passed": "#1b7f3b", "failed": "#b3261e", "skipped": "#666"}
    headline = "PASSED" if gate.passed else ("ABORTED" if gate.aborted else "FAILED")
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(v.name)}</td>"
        f"<td>{html.escape(_cell(v.limit, v.unit, v.name))}</td>"
        f"<td>{html.escape(_cell(v.observed, v.unit, v.name))}</td>"
        f'<td style="color:{colours[v.outcome]};font-weight:bold">{v.outcome}</td>'
        f"<td>{html.escape(v.message)}</td>"
        "</tr>"
        for v in gate.verdicts
    )
    return (
        f'<section id="{VERDICT_MARKER}" style="font-family:sans-serif;margin:1em;padding:1em;'
        f'border:3px solid {colours["passed" if gate.passed else "failed"]}">'
        f"<h1>SLO verdict ({html.escape(scenario_name)}): {headline}, exit code {gate.exit_code}</h1>"
        f"<p>{html.escape(gate.summary_line())}</p>"
        '<table style="border-collapse:collapse" border="1" cellpadding="4">'
        "<thead><tr><th>threshold</th><th>limit</th><th>measured</th><th>result</th><th>detail</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>\n"
    )


def add_verdict_to_html(path: Path, gate: GateResult, scenario_name: str) -> bool:
    """Put the SLO table at the top of Locust's HTML report, the page a person opens; False if absent."""
    try:
        page = path.read_text(encoding="utf-8")
    except OSError:
        return False
    if VERDICT_MARKER in page:
        return True
    section = verdict_html(gate, scenario_name)
    head_end = page.find("</head>")
    body = page.find("<body", max(head_end, 0))
    if body < 0:
        page = section + page
    else:
        insert_at = page.index(">", body) + 1
        page = page[:insert_at] + "\n" + section + page[insert_at:]
    path.write_text(page, encoding="utf-8")
    return True
