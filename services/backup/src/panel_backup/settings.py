"""The one typed settings object: environment variables, `*_FILE` secrets, and an optional YAML file.

Precedence (highest first): environment variable, `<NAME>_FILE`, YAML file (`BACKUP_CONFIG_FILE`), default.
Validation collects every problem and reports one line each, so a bad deployment is fixed in one go.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .redact import register_secret

BackupType = Literal["database", "files", "config"]
BACKUP_TYPES: tuple[BackupType, ...] = ("database", "files", "config")

CommaList = Annotated[list[str], NoDecode]


_DEFAULTS: dict[str, Any] = {
    "files_paths": [],
    "age_recipients": [],
    "email_to": [],
    "files_include": [],
    "files_exclude": [],
    "config_include_secrets": False,
    "config_secret_patterns": [
        "*secret*",
        "*password*",
        "*passwd*",
        "*token*",
        "*key*",
        "*.pem",
        "*credential*",
    ],
    "config_env_vars": [
        "PANEL_ENV",
        "PANEL_URL",
        "UPLOADS_DIR",
        "DB_POOL_SIZE",
        "DB_MAX_OVERFLOW",
        "WEB_CONCURRENCY",
        "OIDC_ISSUER_URL",
        "GOOGLE_CLIENT_ID",
    ],
    "work_dir": Path("/tmp"),  # noqa: S108 - the only writable path in the image; files are 0600
    "s3_region": "us-east-1",
    "s3_sse": "",
    "s3_checksum_calculation": "when_supported",
    "s3_max_parts": 10_000,
    "s3_min_part_size_mib": 16,
    "s3_max_attempts": 5,
    "zstd_level": 3,
    "zstd_threads": 0,
    "keep_last": 7,
    "keep_daily": 7,
    "keep_weekly": 4,
    "keep_monthly": 6,
    "lock_ttl_seconds": 6 * 3600,
    "orphan_min_age_hours": 48.0,
    "schedule_database": "0 2 * * *",
    "schedule_files": "30 2 * * *",
    "schedule_config": "45 2 * * *",
    "schedule_drill": "0 4 * * 0",
    "smtp_port": 587,
    "smtp_security": "starttls",
    "email_on_success": False,
    "progress_interval_seconds": 10.0,
    "log_level": "INFO",
}


def _env(name: str, field_name: str) -> Any:
    # validation_alias names the environment variable; the field name is what the YAML file uses.
    return Field(_DEFAULTS.get(field_name), validation_alias=AliasChoices(name, field_name))


class RetentionPolicy(BaseModel):
    """How many backups each rule keeps; a backup is kept if any rule keeps it."""

    last: int = Field(7, ge=0)
    daily: int = Field(7, ge=0)
    weekly: int = Field(4, ge=0)
    monthly: int = Field(6, ge=0)

    @model_validator(mode="after")
    def _keeps_something(self) -> RetentionPolicy:
        if self.last + self.daily + self.weekly + self.monthly == 0:
            raise ValueError(
                "this retention policy keeps nothing; set at least one of last/daily/weekly/monthly"
            )
        return self


SECRET_FIELDS = {
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "BACKUP_AGE_PASSPHRASE": "age_passphrase",
    "BACKUP_SMTP_PASSWORD": "smtp_password",
    "DATABASE_URL": "database_url",
    "BACKUP_WEBHOOK_URL": "webhook_url",
    "BACKUP_AGE_RECIPIENTS": "age_recipients",
}


class _SecretFilesSource(PydanticBaseSettingsSource):
    """Reads `<NAME>_FILE` for every secret: Kubernetes mounts secrets as files, which keeps them off env."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for env_name, field_name in SECRET_FIELDS.items():
            path = os.environ.get(f"{env_name}_FILE")
            if not path:
                continue
            if os.environ.get(env_name):
                problems.append(f"{env_name} and {env_name}_FILE are both set; unset one of them")
                continue
            try:
                values[field_name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(
                    f"{env_name}_FILE={path}: cannot read it ({exc.strerror}); fix the path or mount"
                )
        if problems:
            raise ConfigError(problems)
        return values


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("BACKUP_CONFIG_FILE")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"BACKUP_CONFIG_FILE={path}: cannot read it ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"BACKUP_CONFIG_FILE={path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"BACKUP_CONFIG_FILE={path}: the top level must be a mapping of setting: value")
        # Keys are field names (`zstd_level`) or variable names (`BACKUP_ZSTD_LEVEL`); both become the
        # variable name, so that the environment, merged on top under that same key, wins.
        by_name = {name.lower(): _env_name(name) for name in Settings.model_fields}
        by_name.update({_env_name(name).lower(): _env_name(name) for name in Settings.model_fields})
        return {by_name.get(str(k).lower(), str(k)): v for k, v in data.items()}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True, case_sensitive=False)

    # Sources
    database_url: str | None = _env("DATABASE_URL", "database_url")
    files_paths: CommaList = _env("BACKUP_FILES_PATHS", "files_paths")
    files_include: CommaList = _env("BACKUP_FILES_INCLUDE", "files_include")
    files_exclude: CommaList = _env("BACKUP_FILES_EXCLUDE", "files_exclude")
    config_dir: Path | None = _env("BACKUP_CONFIG_DIR", "config_dir")
    config_include_secrets: bool = _env("BACKUP_CONFIG_INCLUDE_SECRETS", "config_include_secrets")
    config_secret_patterns: CommaList = _env("BACKUP_CONFIG_SECRET_PATTERNS", "config_secret_patterns")
    config_env_vars: CommaList = _env("BACKUP_CONFIG_ENV_VARS", "config_env_vars")
    pg_bin_dir: Path | None = _env("BACKUP_PG_BIN_DIR", "pg_bin_dir")
    work_dir: Path = _env("BACKUP_WORK_DIR", "work_dir")

    # Storage
    target: str | None = _env("BACKUP_TARGET", "target")
    s3_endpoint_url: str | None = _env("BACKUP_S3_ENDPOINT_URL", "s3_endpoint_url")
    s3_region: str = _env("BACKUP_S3_REGION", "s3_region")
    s3_path_style: bool | None = _env("BACKUP_S3_PATH_STYLE", "s3_path_style")
    s3_sse: Literal["", "AES256", "aws:kms"] = _env("BACKUP_S3_SSE", "s3_sse")
    s3_sse_kms_key_id: str | None = _env("BACKUP_S3_SSE_KMS_KEY_ID", "s3_sse_kms_key_id")
    s3_storage_class: str | None = _env("BACKUP_S3_STORAGE_CLASS", "s3_storage_class")
    s3_checksum_calculation: Literal["when_supported", "when_required"] = _env(
        "BACKUP_S3_CHECKSUM_CALCULATION", "s3_checksum_calculation"
    )
    s3_max_parts: int = _env("BACKUP_S3_MAX_PARTS", "s3_max_parts")
    s3_min_part_size_mib: int = _env("BACKUP_S3_MIN_PART_SIZE_MIB", "s3_min_part_size_mib")
    s3_max_attempts: int = _env("BACKUP_S3_MAX_ATTEMPTS", "s3_max_attempts")
    aws_access_key_id: str | None = _env("AWS_ACCESS_KEY_ID", "aws_access_key_id")
    aws_secret_access_key: str | None = _env("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key")

    # Compression and encryption
    zstd_level: int = _env("BACKUP_ZSTD_LEVEL", "zstd_level")
    zstd_threads: int = _env("BACKUP_ZSTD_THREADS", "zstd_threads")
    age_recipients: CommaList = _env("BACKUP_AGE_RECIPIENTS", "age_recipients")
    age_recipients_file: Path | None = _env("BACKUP_AGE_RECIPIENTS_FILE", "age_recipients_file")
    age_identity_file: Path | None = _env("BACKUP_AGE_IDENTITY_FILE", "age_identity_file")
    age_passphrase: str | None = _env("BACKUP_AGE_PASSPHRASE", "age_passphrase")

    # Retention and locking
    keep_last: int = _env("BACKUP_KEEP_LAST", "keep_last")
    keep_daily: int = _env("BACKUP_KEEP_DAILY", "keep_daily")
    keep_weekly: int = _env("BACKUP_KEEP_WEEKLY", "keep_weekly")
    keep_monthly: int = _env("BACKUP_KEEP_MONTHLY", "keep_monthly")
    retention: dict[BackupType, RetentionPolicy] = Field(default_factory=dict)
    lock_ttl_seconds: int = _env("BACKUP_LOCK_TTL_SECONDS", "lock_ttl_seconds")
    orphan_min_age_hours: float = _env("BACKUP_ORPHAN_MIN_AGE_HOURS", "orphan_min_age_hours")

    # Scheduling (the `schedule` command)
    schedule_database: str = _env("BACKUP_SCHEDULE_DATABASE", "schedule_database")
    schedule_files: str = _env("BACKUP_SCHEDULE_FILES", "schedule_files")
    schedule_config: str = _env("BACKUP_SCHEDULE_CONFIG", "schedule_config")
    schedule_drill: str = _env("BACKUP_SCHEDULE_DRILL", "schedule_drill")

    # Reporting
    smtp_host: str | None = _env("BACKUP_SMTP_HOST", "smtp_host")
    smtp_port: int = _env("BACKUP_SMTP_PORT", "smtp_port")
    smtp_username: str | None = _env("BACKUP_SMTP_USERNAME", "smtp_username")
    smtp_password: str | None = _env("BACKUP_SMTP_PASSWORD", "smtp_password")
    smtp_security: Literal["starttls", "tls", "none"] = _env("BACKUP_SMTP_SECURITY", "smtp_security")
    smtp_ca_file: Path | None = _env("BACKUP_SMTP_CA_FILE", "smtp_ca_file")
    email_from: str | None = _env("BACKUP_EMAIL_FROM", "email_from")
    email_to: CommaList = _env("BACKUP_EMAIL_TO", "email_to")
    email_on_success: bool = _env("BACKUP_EMAIL_ON_SUCCESS", "email_on_success")
    webhook_url: str | None = _env("BACKUP_WEBHOOK_URL", "webhook_url")
    pushgateway_url: str | None = _env("BACKUP_PUSHGATEWAY_URL", "pushgateway_url")
    metrics_textfile: Path | None = _env("BACKUP_METRICS_TEXTFILE", "metrics_textfile")
    progress_interval_seconds: float = _env("BACKUP_PROGRESS_INTERVAL_SECONDS", "progress_interval_seconds")
    log_level: str = _env("BACKUP_LOG_LEVEL", "log_level")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _SecretFilesSource(settings_cls), _YamlSource(settings_cls))

    @field_validator(
        "files_paths",
        "files_include",
        "files_exclude",
        "config_secret_patterns",
        "config_env_vars",
        "age_recipients",
        "email_to",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: str | None) -> str | None:
        if value and not (value.startswith("file://") or value.startswith("s3://")):
            raise ValueError("must start with file:// (a local directory) or s3:// (s3://bucket/prefix)")
        if value and value.startswith("s3://") and not value[len("s3://") :].split("/", 1)[0]:
            raise ValueError("names no bucket; use s3://bucket or s3://bucket/prefix")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value and value.split(":", 1)[0].split("+", 1)[0] not in ("postgresql", "postgres", "sqlite"):
            raise ValueError("must be a postgresql://... or sqlite:///path URL")
        return value

    @field_validator("zstd_level")
    @classmethod
    def _check_level(cls, value: int) -> int:
        if not 1 <= value <= 19:
            raise ValueError("must be between 1 (fastest) and 19 (smallest)")
        return value

    @field_validator("s3_max_parts")
    @classmethod
    def _check_max_parts(cls, value: int) -> int:
        if not 1 <= value <= 10_000:
            raise ValueError("must be between 1 and 10000 (S3's limit; some S3-compatible stores allow 1000)")
        return value

    @field_validator("s3_min_part_size_mib")
    @classmethod
    def _check_min_part_size(cls, value: int) -> int:
        if not 5 <= value <= 5120:
            raise ValueError("must be between 5 and 5120 MiB (S3's smallest and largest part sizes)")
        return value

    @field_validator("s3_max_attempts")
    @classmethod
    def _check_max_attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1 (1 means no retries)")
        return value

    @model_validator(mode="after")
    def _default_policy_keeps_something(self) -> Settings:
        if self.keep_last + self.keep_daily + self.keep_weekly + self.keep_monthly == 0:
            raise ValueError(
                "BACKUP_KEEP_LAST/DAILY/WEEKLY/MONTHLY are all 0: this retention policy keeps nothing; "
                "set at least one of them above 0"
            )
        return self

    def policy_for(self, backup_type: BackupType) -> RetentionPolicy:
        if backup_type in self.retention:
            return self.retention[backup_type]
        return RetentionPolicy(
            last=self.keep_last, daily=self.keep_daily, weekly=self.keep_weekly, monthly=self.keep_monthly
        )

    def recipients_text(self) -> list[str]:
        """BACKUP_AGE_RECIPIENTS plus BACKUP_AGE_RECIPIENTS_FILE (one key per line, # comments)."""
        found = list(self.age_recipients)
        if self.age_recipients_file:
            try:
                lines = self.age_recipients_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(
                    f"BACKUP_AGE_RECIPIENTS_FILE={self.age_recipients_file}: cannot read it ({exc.strerror})"
                ) from None
            found += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return found


def _env_name(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field_name


def load_settings() -> Settings:
    """Read and validate the settings, raising ConfigError with one line per problem."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = _env_name(loc[0]) if loc else "settings"
            where = ".".join([name, *loc[1:]])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = (
                    "unknown setting in BACKUP_CONFIG_FILE; check the spelling (services/backup/README.md)"
                )
            problems.append(f"{where}: {message}")
        raise ConfigError(problems) from None
    for secret in (
        settings.aws_secret_access_key,
        settings.age_passphrase,
        settings.smtp_password,
        settings.webhook_url,
    ):
        register_secret(secret)
    if settings.database_url:
        from urllib.parse import urlsplit

        register_secret(urlsplit(settings.database_url).password)
    return settings
