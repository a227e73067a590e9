"""Packaged scenarios, custom scenario files, and duration scaling."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from panel_loadtest.scenarios import MAX_SPAWN_RATE, ScenarioError, load_scenario, packaged_scenario_names


def test_the_five_scenarios_ship_inside_the_package() -> None:
    assert packaged_scenario_names() == ["endurance", "load", "smoke", "spike", "stress"]


def test_packaged_scenarios_match_the_requirements() -> None:
    smoke, load, spike = load_scenario("smoke"), load_scenario("load"), load_scenario("spike")
    assert smoke.total_duration == 60 and smoke.one_user_per_role
    assert load.total_duration == 300 and load.peak_users == 50 and "throughput" in load.judge
    assert not load.stages[0].steady, "the ramp-up must not count towards throughput"
    calm, burst = spike.stages[0].users, spike.stages[1].users
    assert burst == 10 * calm and spike.stages[1].duration == 60
    assert load_scenario("stress").judge == ["requests", "stress_capacity"]
    assert load_scenario("endurance").total_duration >= 3600


@given(
    st.sampled_from(["smoke", "load", "spike", "endurance", "stress"]),
    st.floats(min_value=0.01, max_value=10, allow_nan=False),
)
def test_one_factor_scales_every_duration(name: str, factor: float) -> None:
    original = load_scenario(name)
    scaled = original.scaled(factor)
    assert scaled.total_duration == pytest.approx(original.total_duration * factor)
    assert all(stage.spawn_rate <= MAX_SPAWN_RATE for stage in scaled.stages)
    assert [s.users for s in scaled.stages] == [s.users for s in original.stages]


def test_stage_lookup_follows_the_stage_boundaries() -> None:
    load = load_scenario("load").scaled(0.1)  # 3 s ramp, 27 s steady
    assert load.stage_at(0) is load.stages[0]
    assert load.stage_at(2.99) is load.stages[0]
    assert load.stage_at(3.0) is load.stages[1]
    assert load.stage_at(30.0) is None


def test_a_custom_scenario_file_is_loaded_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "burst.yaml"
    path.write_text("name: burst\nstages:\n  - {duration: 5, users: 7}\n")
    scenario = load_scenario(str(path))
    assert (scenario.name, scenario.peak_users, scenario.stages[0].spawn_rate) == ("burst", 7, 10.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nstages: []\n", "needs at least one stage"),
        ("name: x\nkind: stress\n", "needs a 'stress:' block"),
        ("name: x\nstages:\n  - {duration: -1, users: 1}\n", "stages.0.duration"),
        ("name: x\nstages:\n  - {duration: 1, users: 1, colour: red}\n", "colour"),
        ("- just a list\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_broken_scenario_file_gets_a_message_naming_the_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_scenario(str(path))


def test_unknown_names_and_missing_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'soak'; choose one of endurance, load"):
        load_scenario("soak")
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(str(tmp_path / "missing.yaml"))
