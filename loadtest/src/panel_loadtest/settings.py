"""The load test's settings, read from the environment.

Every process of a run (the CLI, the Locust master, each worker) reads the same variables,
so a Kubernetes Job only has to set env vars; the admin password is also readable from
``LOADTEST_PASSWORD_FILE``. Only the declarations live here: the sources, the ``_FILE`` reading
and the one-line-per-problem errors come from `service_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, HttpUrl, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict
from service_settings import ServiceSettings, SettingsError, load


class Thresholds(ServiceSettings):
    """SLO thresholds; defaults come from the requirements (50 users, < 500 ms, 100+ req/s, < 1%)."""

    model_config = SettingsConfigDict(env_prefix="LOADTEST_", extra="ignore")
    file_fields: ClassVar[frozenset[str] | None] = frozenset()  # thresholds are not secrets

    max_avg_ms: float = Field(default=500.0, gt=0, description="average response time must stay below this")
    max_p95_ms: float = Field(default=1000.0, gt=0, description="95th percentile response time bound")
    max_p99_ms: float = Field(default=2000.0, gt=0, description="99th percentile response time bound")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="failed requests / all requests, 0-1")
    min_rps: float = Field(
        default=100.0, ge=0, description="required steady throughput at min_rps_users users"
    )
    min_rps_users: int = Field(default=50, gt=0, description="user count at which min_rps applies")
    stress_min_users: int = Field(
        default=50, ge=0, description="stress: the last passing user count must reach this"
    )
    max_request_ms: float = Field(
        default=10000.0, gt=0, description="a request slower than this counts as failed (error rate)"
    )
    max_success_gap_s: float = Field(
        default=10.0,
        ge=0,
        description="longest stretch with users running but no successful request (0 turns it off)",
    )

    def required_rps(self, steady_users: int) -> float:
        """The throughput a run with ``steady_users`` users must reach (linear in the user count)."""
        return self.min_rps * steady_users / self.min_rps_users


class LoadTestSettings(ServiceSettings):
    """What a run needs: the panel's URL, the bootstrap admin, the scenario and where reports go."""

    model_config = SettingsConfigDict(env_prefix="LOADTEST_", extra="ignore", populate_by_name=True)
    # LOADTEST_PASSWORD_FILE: the admin password from a mounted Secret (the only secret here).
    file_fields: ClassVar[frozenset[str] | None] = frozenset({"password"})

    panel_url: HttpUrl = Field(default=HttpUrl("http://127.0.0.1:8000"), validation_alias="PANEL_URL")
    username: str = Field(default="admin", min_length=1)
    password: SecretStr | None = None
    scenario: str = Field(
        default="smoke", min_length=1, description="a packaged scenario name or a YAML file path"
    )
    duration_scale: float = Field(default=1.0, gt=0, le=100, description="multiplies every scenario duration")
    report_dir: Path = Path("loadtest-reports")
    account_prefix: str = Field(default="loadtest", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    weight_admin: int = Field(default=1, ge=0)
    weight_operator: int = Field(default=3, ge=0)
    weight_viewer: int = Field(default=6, ge=0)
    wait_min: float = Field(default=0.1, ge=0, description="think time between tasks, lower bound (seconds)")
    wait_max: float = Field(default=0.7, ge=0, description="think time between tasks, upper bound (seconds)")
    job_poll_timeout: float = Field(default=30.0, gt=0, description="give up polling a check job after this")
    token_refresh_margin: float = Field(
        default=30.0, ge=0, description="refresh the JWT this long before expiry"
    )
    oidc: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="OAuth2 paths: on = must redirect; off = skip; auto = skip once SSO reports off (404)",
    )
    print_summary: bool = Field(
        default=False, description="also print summary.json to stdout at the end (for `kubectl logs`)"
    )
    ready_timeout: float = Field(
        default=60.0, ge=0, description="wait this long for the panel's /readyz at start"
    )
    request_timeout: float = Field(
        default=30.0, gt=0, le=600, description="give up on one request after this (it counts as failed)"
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.wait_max < self.wait_min:
            raise ValueError("LOADTEST_WAIT_MAX must be >= LOADTEST_WAIT_MIN")
        if self.weight_admin + self.weight_operator + self.weight_viewer == 0:
            raise ValueError("at least one of LOADTEST_WEIGHT_ADMIN/OPERATOR/VIEWER must be above 0")
        return self

    @property
    def base_url(self) -> str:
        return str(self.panel_url).rstrip("/")

    def admin_password(self) -> str:
        """The bootstrap admin's password, or a clear error when neither variable is set."""
        if self.password is None or not self.password.get_secret_value():
            raise SettingsError(
                [
                    "LOADTEST_PASSWORD (or LOADTEST_PASSWORD_FILE) is not set: give the password "
                    "of the admin account LOADTEST_USERNAME that creates the test accounts"
                ]
            )
        return self.password.get_secret_value()


def load_settings() -> tuple[LoadTestSettings, Thresholds]:
    """Read and validate both settings objects, raising SettingsError with one line per problem."""
    problems: list[str] = []
    settings = thresholds = None
    try:
        settings = load(LoadTestSettings)
    except SettingsError as exc:
        problems += exc.problems
    try:
        thresholds = load(Thresholds)
    except SettingsError as exc:
        problems += exc.problems
    if problems or settings is None or thresholds is None:
        raise SettingsError(problems)
    return settings, thresholds
