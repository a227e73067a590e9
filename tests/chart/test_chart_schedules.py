"""CronJob schedules never fall into a daylight-saving-time shift.

Kubernetes runs a CronJob with `timeZone` at the local wall time. On the day a zone springs forward, the
skipped hour does not exist (Europe/Berlin has no 02:00-02:59 on the last Sunday of March: a run
scheduled then is lost); on the day it falls back, the repeated hour exists twice. Both are checked
against the tz database (the `tzdata` package) for two years: every rendered schedule in its own zone, and
the default backup schedules in every IANA zone, because users set `backup.timeZone` freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml
from chart_support import CHART_DIR, SCENARIOS, documents
from croniter import croniter

pytestmark = pytest.mark.timeout(3600)

WINDOW_START = date(2026, 1, 1)
WINDOW_DAYS = 2 * 366


def wall_times(schedule: str) -> set[tuple[int, int]]:
    """(hour, minute) of every run of `schedule` in a week (the weekday does not matter here: a shift
    could fall on any weekday in some year)."""
    start = datetime(2026, 1, 5)  # a Monday
    runs = croniter(schedule, start - timedelta(minutes=1))
    times: set[tuple[int, int]] = set()
    while (run := runs.get_next(datetime)) < start + timedelta(days=7):
        times.add((run.hour, run.minute))
    return times


@cache
def shift_days(zone_name: str) -> tuple[date, ...]:
    """Days in the window on which the zone's UTC offset changes (the shift day itself and the day after,
    for zones that shift at midnight)."""
    zone = ZoneInfo(zone_name)
    days: list[date] = []
    previous = datetime(WINDOW_START.year, WINDOW_START.month, WINDOW_START.day, tzinfo=zone).utcoffset()
    for offset in range(1, WINDOW_DAYS + 1):
        day = WINDOW_START + timedelta(days=offset)
        current = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
        if current != previous:
            days += [day - timedelta(days=1), day]
        previous = current
    return tuple(days)


def shifted_runs(schedule: str, zone_name: str) -> Iterator[str]:
    """Wall times of `schedule` that do not exist or exist twice on some day, e.g. '2026-03-29 02:00'."""
    zone = ZoneInfo(zone_name)
    for day in shift_days(zone_name):
        for hour, minute in sorted(wall_times(schedule)):
            wall = datetime(day.year, day.month, day.day, hour, minute)
            # Outside a shift both folds give the same offset; in a gap or an overlap they differ.
            if wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset():
                yield f"{wall:%Y-%m-%d %H:%M}"


def test_the_check_finds_the_spring_forward_gap() -> None:
    # The defect the review found: 02:00 Europe/Berlin does not exist on 2026-03-29.
    assert "2026-03-29 02:00" in set(shifted_runs("0 2 * * *", "Europe/Berlin"))
    assert "2026-10-25 02:30" in set(shifted_runs("30 2 * * *", "Europe/Berlin"))
    assert not list(shifted_runs("0 2 * * *", "Etc/UTC"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_schedules_avoid_dst_shifts(rendered: dict[str, str], scenario: str) -> None:
    problems = []
    for doc in documents(rendered[scenario]):
        if doc["kind"] != "CronJob":
            continue
        spec = doc["spec"]
        zone = spec.get("timeZone", "Etc/UTC")  # no timeZone: the controller's zone, UTC in practice
        problems += [
            f"{doc['metadata']['name']} ({spec['schedule']} {zone}) at {run}"
            for run in shifted_runs(spec["schedule"], zone)
        ]
    assert not problems, "runs skipped or doubled by daylight saving time:\n" + "\n".join(problems)


def all_zones() -> list[str]:
    return sorted(set(resources.files("tzdata").joinpath("zones").read_text().split()) - {"Factory"})


def test_default_schedules_are_safe_in_every_zone() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schedules = {f"backup.jobs.{name}": job["schedule"] for name, job in values["backup"]["jobs"].items()}
    schedules["loadtest.scheduled"] = values["loadtest"]["scheduled"]["schedule"]
    problems = [
        f"{key} ({schedule}) in {zone} at {run}"
        for key, schedule in schedules.items()
        for zone in all_zones()
        for run in shifted_runs(schedule, zone)
    ]
    assert not problems, "\n".join(problems[:20])
