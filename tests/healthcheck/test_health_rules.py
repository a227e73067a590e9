"""The alert rules' contract with their runbooks and with the chart's backup schedules (issue 15 items 9
and 10); the rules' behaviour itself is in the promtool unit tests under rules/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from croniter import croniter

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts/panel"
RULES = CHART / "files/prometheus/panel-alerts.rules.yaml"
RUNBOOKS = CHART / "docs/runbooks.md"


def _groups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES.read_text())["groups"])


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _groups() for rule in group["rules"] if "alert" in rule]


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_to_its_own_runbook_section() -> None:
    home = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]
    prefix = f"{home}/blob/main/charts/panel/docs/runbooks.md#"
    anchors = {
        github_anchor(line.lstrip("#")) for line in RUNBOOKS.read_text().splitlines() if line.startswith("#")
    }
    for rule in _alerts():
        url = rule["annotations"].get("runbook_url", "")
        assert url.startswith(prefix), (rule["alert"], url)
        anchor = url.removeprefix(prefix)
        assert anchor == rule["alert"].lower(), (rule["alert"], anchor)
        assert anchor in anchors, f"{rule['alert']}: runbooks.md has no section {anchor!r}"


def test_warning_critical_pairs_share_a_panel_alert_label_for_the_inhibit_rule() -> None:
    by_pair: dict[str, set[str]] = {}
    for rule in _alerts():
        if "panel_alert" in rule["labels"]:
            by_pair.setdefault(rule["labels"]["panel_alert"], set()).add(rule["labels"]["severity"])
    assert by_pair == {
        "certificate_expiry": {"warning", "critical"},
        "queue_depth": {"warning", "critical"},
    }


def _recorded_intervals() -> dict[str, float]:
    [group] = [g for g in _groups() if g["name"] == "panel-backup-schedule"]
    intervals = {}
    for rule in group["rules"]:
        assert rule["record"] == "panel_backup:expected_interval_seconds"
        intervals[rule["labels"]["type"]] = float(re.fullmatch(r"vector\((\d+)\)", rule["expr"]).group(1))  # type: ignore[union-attr]
    return intervals


def longest_gap_seconds(schedule: str, time_zone: str | None, start: datetime) -> float:
    """The longest time between two consecutive runs of a cron schedule over a year (DST included)."""
    zone = ZoneInfo(time_zone) if time_zone else UTC
    runs = croniter(schedule, start.astimezone(zone))
    previous = runs.get_next(datetime)
    longest = 0.0
    while previous < start + timedelta(days=366):
        current = runs.get_next(datetime)
        longest = max(longest, (current.astimezone(UTC) - previous.astimezone(UTC)).total_seconds())
        previous = current
    return longest


def _backup_jobs(values_file: Path) -> tuple[dict[str, str], str | None]:
    backup = yaml.safe_load(values_file.read_text())["backup"]
    jobs = {
        name: job["schedule"]
        for name, job in backup.get("jobs", {}).items()
        if name != "prune" and job.get("schedule")  # a disabled job's schedule applies once enabled
    }
    return jobs, backup.get("timeZone") or None


def test_backup_freshness_bounds_are_derived_from_the_chart_default_schedules() -> None:
    """The recorded interval per type is the longest gap of values.yaml's schedule: change one, this fails."""
    jobs, zone = _backup_jobs(CHART / "values.yaml")
    intervals = _recorded_intervals()
    assert set(jobs) == set(intervals), "every backup type needs a recorded interval"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for backup_type, schedule in jobs.items():
        assert intervals[backup_type] == longest_gap_seconds(schedule, zone, start), backup_type
