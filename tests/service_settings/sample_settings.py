"""Settings classes shaped like the three services' (the shapes the library must serve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from service_settings import CommaList, ServiceSettings


class PanelLike(ServiceSettings):
    """The panel: every field from the environment, every field also from <NAME>_FILE, extras ignored."""

    model_config = SettingsConfigDict(extra="ignore")
    secret_fields = frozenset({"secret_key", "database_url"})
    settings_docs = "services/panel/README.md"

    panel_env: Literal["development", "production", "testing"] = "development"
    database_url: str = "sqlite:///var/panel.db"
    secret_key: str = "dev-secret-key-change-me"
    web_concurrency: int = Field(default=2, ge=1)
    check_timeout_seconds: float = Field(default=5.0, gt=0)
    uploads_dir: Path = Path("var/uploads")

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> PanelLike:
        if self.panel_env == "production" and len(self.secret_key) < 32:
            raise ValueError("SECRET_KEY: set a random value of at least 32 characters in production")
        return self


def _backup(name: str, field_name: str, default: Any = None) -> Any:
    return Field(default, validation_alias=AliasChoices(name, field_name))


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    last: int = Field(7, ge=0)
    daily: int = Field(7, ge=0)


class BackupLike(ServiceSettings):
    """panel-backup: BACKUP_-prefixed aliases, a YAML overlay keyed by field or variable name, secrets
    with a file form, and a field whose variable is another's `_FILE` name."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True)
    config_file_variable = "BACKUP_CONFIG_FILE"
    environment_fields = frozenset(
        {
            "database_url",
            "target",
            "zstd_level",
            "age_recipients",
            "age_recipients_file",
            "aws_secret_access_key",
            "email_to",
        }
    )
    file_fields = frozenset({"database_url", "aws_secret_access_key", "age_recipients"})
    secret_fields = frozenset({"database_url", "aws_secret_access_key"})
    settings_docs = "services/backup/README.md"

    database_url: str | None = _backup("DATABASE_URL", "database_url")
    target: str | None = _backup("BACKUP_TARGET", "target")
    zstd_level: int = _backup("BACKUP_ZSTD_LEVEL", "zstd_level", 3)
    age_recipients: CommaList = _backup("BACKUP_AGE_RECIPIENTS", "age_recipients", [])
    age_recipients_file: Path | None = _backup("BACKUP_AGE_RECIPIENTS_FILE", "age_recipients_file")
    aws_secret_access_key: str | None = _backup("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key")
    email_to: CommaList = _backup("BACKUP_EMAIL_TO", "email_to", [])
    retention: dict[Literal["database", "files"], RetentionPolicy] = Field(default_factory=dict)

    @field_validator("zstd_level")
    @classmethod
    def _level(cls, value: int) -> int:
        if not 1 <= value <= 19:
            raise ValueError("must be between 1 (fastest) and 19 (smallest)")
        return value


class Exporter(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    port: int = Field(default=9117, ge=1, le=65535)
    scrape_timeout_seconds: float = Field(default=10.0, gt=0)


class HealthLike(ServiceSettings):
    """panel-health: a nested YAML file; only four variables (and their _FILE forms) from the environment."""

    model_config = SettingsConfigDict(extra="forbid", allow_inf_nan=False)
    config_file_variable = "PANEL_HEALTH_CONFIG"
    environment_fields = frozenset({"panel_url", "panel_public_url", "database_url", "redis_url"})
    settings_docs = "services/healthcheck/README.md"

    panel_url: str = "http://127.0.0.1:8000"
    panel_public_url: str | None = None
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    default_timeout_seconds: float = Field(default=5.0, gt=0)
    exporter: Exporter = Field(default_factory=Exporter)
    queues: list[str] = Field(default_factory=lambda: ["panel"])
