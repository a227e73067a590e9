"""Names the stage a failure happened in, and turns library errors into safe, clear BackupErrors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from service_settings import scrub

from .errors import BackupError


class StageTracker:
    def __init__(self) -> None:
        self.current = "start"

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.current = name
        try:
            yield
        except BackupError as exc:
            if exc.stage is None:
                exc.stage = name
            raise
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            raise BackupError(f"{name} failed: {scrub(describe_error(exc))}", stage=name) from exc


def describe_error(exc: BaseException) -> str:
    """A one-line description of a library error (botocore, psycopg2, OSError) without a traceback."""
    try:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return f"storage said {error.get('Code', '?')}: {error.get('Message', '')}".strip()
    except ImportError:  # pragma: no cover - boto3 is a dependency
        pass
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
