"""The one typed settings object: environment variables, `*_FILE` secrets, and an optional YAML file.

Only the declarations live here (fields, validators, how the settings cohere); the sources, the
`<NAME>_FILE` reading, the YAML overlay and secret registration come from `service_settings`.
Precedence (highest first): environment variable, `<NAME>_FILE`, YAML file (`BACKUP_CONFIG_FILE`), default.
Validation collects every problem and reports one line each, so a bad deployment is fixed in one go.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from service_settings import CommaList, ServiceSettings, SettingsError, load

from .dburl import parse_postgres, sqlite_path
from .errors import ConfigError

BackupType = Literal["database", "files", "config"]
BACKUP_TYPES: tuple[BackupType, ...] = ("database", "files", "config")

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
    "s3_min_part_size_mib": 8,
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
    "table_fingerprints": False,
    "log_level": "INFO",
}


# field: (lowest, highest, what the value means), checked when the settings load
RANGES: dict[str, tuple[int, int, str]] = {
    "zstd_level": (1, 19, "1 is fastest, 19 smallest"),
    "zstd_threads": (0, 64, "zstd worker threads, 0 compresses in the pipeline's own thread"),
    "s3_max_parts": (1, 10_000, "S3's limit is 10000; some S3-compatible stores allow 1000"),
    "s3_min_part_size_mib": (5, 5120, "S3's smallest and largest part sizes"),
    "s3_max_attempts": (1, 20, "requests per S3 call, 1 means no retries"),
    "keep_last": (0, 100_000, "backups kept by this rule"),
    "keep_daily": (0, 100_000, "backups kept by this rule"),
    "keep_weekly": (0, 100_000, "backups kept by this rule"),
    "keep_monthly": (0, 100_000, "backups kept by this rule"),
    "lock_ttl_seconds": (60, 30 * 86400, "how long a lock of a dead run blocks new runs; longer than a run"),
    "progress_interval_seconds": (0, 86400, "seconds between progress lines, 0 turns them off"),
    "smtp_port": (1, 65535, "a TCP port (587 STARTTLS, 465 TLS, 25 plain)"),
}
SCHEDULES = ("schedule_database", "schedule_files", "schedule_config", "schedule_drill")
SCHEDULE_OFF = ("", "off", "never", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


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
}
# BACKUP_AGE_RECIPIENTS_FILE is not the file variant of a secret (public keys are not secret) but a setting
# of its own: one key per line, `#` comments (Settings.recipients_text).


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True)

    config_file_variable: ClassVar[str | None] = "BACKUP_CONFIG_FILE"
    settings_docs: ClassVar[str] = "services/backup/README.md"
    # `retention` is a mapping of policies: only the YAML file sets it (a RETENTION variable would
    # otherwise be parsed as JSON by accident).
    environment_fields: ClassVar[frozenset[str] | None] = None  # set below, once the fields exist
    file_fields: ClassVar[frozenset[str] | None] = frozenset(SECRET_FIELDS.values())
    secret_fields: ClassVar[frozenset[str]] = frozenset(SECRET_FIELDS.values())

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
    table_fingerprints: bool = _env("BACKUP_TABLE_FINGERPRINTS", "table_fingerprints")

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

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: str | None) -> str | None:
        if not value:
            return value
        if value.startswith("file://"):
            if not value[len("file://") :].strip():
                raise ValueError("names no folder; use file:///absolute/path or file://./relative/path")
            return value
        if not value.startswith("s3://"):
            raise ValueError("must start with file:// (a local directory) or s3:// (s3://bucket/prefix)")
        bucket = value[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise ValueError("names no bucket; use s3://bucket or s3://bucket/prefix")
        if not BUCKET_NAME.fullmatch(bucket):
            raise ValueError(
                f"{bucket!r} is not a bucket name (3-63 letters, digits, dots, hyphens); use s3://bucket/prefix"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        # The URL holds the password: no message here repeats any of it.
        if not value:
            return value
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("postgresql", "postgres", "sqlite"):
            raise ValueError("must be a postgresql://user:password@host:5432/dbname or sqlite:///path URL")
        try:
            if scheme == "sqlite":
                sqlite_path(value)
            else:
                parse_postgres(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("DATABASE_URL: ")) from None
        return value

    @field_validator(*RANGES)
    @classmethod
    def _check_range(cls, value: int, info: ValidationInfo) -> int:
        low, high, meaning = RANGES[info.field_name or ""]
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}: {meaning}")
        return value

    @field_validator("orphan_min_age_hours")
    @classmethod
    def _check_orphan_age(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be above 0 hours (fractions allowed) and longer than any run takes")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
            return value.strip().upper()
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")

    @field_validator("s3_endpoint_url", "webhook_url", "pushgateway_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port out of range or not a number, a broken IPv6 address
            ok = False
        if not ok:
            raise ValueError("must be an http:// or https:// URL with a host (and a port from 1 to 65535)")
        return value

    @field_validator("s3_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", value):
            raise ValueError("must be a region name such as us-east-1")
        return value

    @field_validator("s3_storage_class")
    @classmethod
    def _check_storage_class(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z][A-Z_]{1,40}", value):
            raise ValueError("must be a storage class such as STANDARD_IA or GLACIER_IR (upper case)")
        return value

    @field_validator("email_from")
    @classmethod
    def _check_from(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL.fullmatch(value):
            raise ValueError("must be an email address such as backups@example.com")
        return value

    @field_validator("email_to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not EMAIL.fullmatch(address)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an email address; list addresses separated by commas")
        return value

    @field_validator("age_recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        import pyrage

        for text in value:
            try:
                pyrage.x25519.Recipient.from_str(text)
            except pyrage.RecipientError:
                shown = text[:12] + "..." if len(text) > 12 else text
                raise ValueError(
                    f"{shown!r} is not an age X25519 public key (age1...); `panel-backup keygen` prints one"
                ) from None
        return value

    @field_validator("smtp_host")
    @classmethod
    def _check_smtp_host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,253}", value):
            raise ValueError("must be a host name or address, without a scheme or port")
        return value

    @field_validator(*SCHEDULES)
    @classmethod
    def _check_schedule(cls, value: str, info: ValidationInfo) -> str:
        text = value.strip()
        if text.lower() in SCHEDULE_OFF or text == _DEFAULTS[info.field_name or ""]:
            return text
        if len(text.split()) != 5 and not text.startswith("@"):
            raise ValueError(
                f"{text!r} has {len(text.split())} fields; use 5 (minute hour day month weekday, UTC), "
                "e.g. '0 2 * * *', or `off`"
            )
        from croniter import croniter  # only for a schedule that is not the default: it is slow to import

        if not croniter.is_valid(text):
            raise ValueError(f"{text!r} is not a cron expression; e.g. '0 2 * * *' for 02:00 UTC daily")
        return text

    @model_validator(mode="after")
    def _default_policy_keeps_something(self) -> Settings:
        if self.keep_last + self.keep_daily + self.keep_weekly + self.keep_monthly == 0:
            raise ValueError(
                "BACKUP_KEEP_LAST/DAILY/WEEKLY/MONTHLY are all 0: this retention policy keeps nothing; "
                "set at least one of them above 0"
            )
        return self

    def coherence_problems(self) -> list[str]:
        """Settings that are each valid but do not work together: one line each, naming the fix."""
        problems = []
        mail = {
            "BACKUP_SMTP_HOST": self.smtp_host,
            "BACKUP_EMAIL_FROM": self.email_from,
            "BACKUP_EMAIL_TO": self.email_to,
        }
        if any(mail.values()) and not all(mail.values()):
            missing = ", ".join(name for name, value in mail.items() if not value)
            problems.append(
                f"{missing}: not set, but {', '.join(n for n, v in mail.items() if v)} is; "
                "mail needs all three (or none)"
            )
        if bool(self.smtp_username) != bool(self.smtp_password):
            problems.append(
                "BACKUP_SMTP_USERNAME/BACKUP_SMTP_PASSWORD: only one is set; set both to log in, or neither"
            )
        if bool(self.aws_access_key_id) != bool(self.aws_secret_access_key):
            problems.append(
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: only one is set; set both, or neither to use the "
                "instance role / IRSA"
            )
        if self.s3_sse_kms_key_id and self.s3_sse != "aws:kms":
            problems.append(
                "BACKUP_S3_SSE_KMS_KEY_ID: set, but BACKUP_S3_SSE is not aws:kms; set both or unset it"
            )
        if self.pushgateway_url and self.metrics_textfile:
            problems.append(
                "BACKUP_PUSHGATEWAY_URL and BACKUP_METRICS_TEXTFILE are both set; metrics go to one place: "
                "unset one of them"
            )
        return problems

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


Settings.environment_fields = frozenset(Settings.model_fields) - {"retention"}


def load_settings() -> Settings:
    """Read and validate the settings, raising ConfigError with one line per problem."""
    try:
        settings = load(Settings)
    except SettingsError as exc:
        raise ConfigError(exc.problems) from None
    if problems := settings.coherence_problems():
        raise ConfigError(problems)
    return settings
