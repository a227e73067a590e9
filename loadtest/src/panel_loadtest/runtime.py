"""The state one Locust process shares between its users, its shape and its event hooks.

Built once when the locustfile is imported; it holds only plain objects so it can be created
(and unit-tested) without Locust.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panel_loadtest.accounts import Account, accounts_for
from panel_loadtest.counters import Counters
from panel_loadtest.scenarios import Scenario, load_scenario
from panel_loadtest.settings import LoadTestSettings, Thresholds, load_settings
from panel_loadtest.stress import StressController
from panel_loadtest.timeline import Snapshot


@dataclass
class RunContext:
    settings: LoadTestSettings
    thresholds: Thresholds
    scenario: Scenario
    accounts: dict[str, Account]
    counters: Counters = field(default_factory=Counters)
    snapshots: list[Snapshot] = field(default_factory=list)
    stress: StressController | None = None
    aborted: str | None = None
    # Learned at run time: False once the panel answers 404 for /auth/oidc/login (SSO not configured).
    sso_configured: bool | None = None

    @classmethod
    def from_environment(cls) -> RunContext:
        """Read settings and the scenario; raises SettingsError/ScenarioError with readable messages."""
        settings, thresholds = load_settings()
        scenario = load_scenario(settings.scenario).scaled(settings.duration_scale)
        accounts = accounts_for(settings.username, settings.admin_password(), settings.account_prefix)
        stress = StressController(scenario.stress, thresholds) if scenario.stress is not None else None
        return cls(settings, thresholds, scenario, accounts, stress=stress)


_current: RunContext | None = None


def set_current(context: RunContext) -> None:
    global _current
    _current = context


def current() -> RunContext:
    if _current is None:
        raise RuntimeError("the load-test context is not set up; run through panel_loadtest's locustfile")
    return _current
