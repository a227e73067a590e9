"""Database URLs: PostgreSQL connection parameters for libpq's environment, and SQLite paths."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ConfigError


@dataclass(frozen=True)
class PostgresTarget:
    host: str
    port: int
    user: str | None
    password: str | None
    dbname: str
    options: dict[str, str]

    def with_dbname(self, dbname: str) -> PostgresTarget:
        return PostgresTarget(self.host, self.port, self.user, self.password, dbname, self.options)

    def libpq_env(self) -> dict[str, str]:
        """Connection settings as libpq environment variables: the password never reaches argv."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGDATABASE": self.dbname,
            "PGCONNECT_TIMEOUT": "15",
            "PGAPPNAME": "panel-backup",
        }
        if self.user:
            env["PGUSER"] = self.user
        if self.password:
            env["PGPASSWORD"] = self.password
        for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
            if key in self.options:
                env[var] = self.options[key]
        return env

    def subprocess_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**base, **self.libpq_env()}

    def connect_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "connect_timeout": 15,
            "application_name": "panel-backup",
        }
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        kwargs.update(self.options)
        return kwargs

    def describe(self) -> str:
        # The user goes after the URL, not into it: a lone user part in a URL is masked by `scrub`
        # (there it is often a token), and the user is what an operator needs to fix a refusal.
        as_user = f" as {self.user}" if self.user else ""
        return f"postgresql://{self.host}:{self.port}/{self.dbname}{as_user}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def parse_postgres(url: str) -> PostgresTarget:
    """The URL's parts; errors never repeat the URL (it holds the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(
            "DATABASE_URL: the host or port cannot be read; the port must be a number from 1 to 65535 "
            "(postgresql://user:password@host:5432/dbname; percent-encode special characters in the password)"
        ) from None
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL: expected postgresql://user:password@host:port/dbname")
    if port == 0:
        raise ConfigError("DATABASE_URL: the port must be a number from 1 to 65535")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ConfigError("DATABASE_URL: names no database; add /dbname to the URL")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return PostgresTarget(
        host=parts.hostname or "localhost",
        port=port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        dbname=dbname,
        options=options,
    )


def sqlite_path(url: str) -> Path:
    """SQLAlchemy's convention: sqlite:///relative/path and sqlite:////absolute/path."""
    match = re.match(r"^sqlite(\+\w+)?:///(?P<path>.+)$", url)
    if not match:
        raise ConfigError("DATABASE_URL: expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(match["path"].split("?", 1)[0])
