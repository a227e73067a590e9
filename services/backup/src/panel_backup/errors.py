"""Exceptions that carry the CLI exit code, so every failure maps to one documented status."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTEGRITY = 3
EXIT_LOCKED = 4
EXIT_NOT_FOUND = 5


class BackupError(Exception):
    """An operation failed; the message is safe to show (no secrets) and names the fix when known."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        super().__init__(message)
        self.stage = stage


class ConfigError(BackupError):
    """The configuration or the command line is wrong: one line per problem."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class IntegrityError(BackupError):
    """A backup does not match its manifest, or a drill's restored data differs from the source."""

    exit_code = EXIT_INTEGRITY


class LockHeldError(BackupError):
    """Another run of the same backup type is in progress."""

    exit_code = EXIT_LOCKED


class NotFoundError(BackupError):
    """No complete backup matches the request."""

    exit_code = EXIT_NOT_FOUND


class SourceError(BackupError):
    """The data source (pg_dump, SQLite, tar) failed; nothing was stored."""
