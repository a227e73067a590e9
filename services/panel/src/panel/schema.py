"""Schema migrations: apply them, and tell where a database stands relative to this image's code.

Migrations follow expand/contract (CONTRIBUTING.md): every revision keeps the previous release's code
working. So a database *ahead* of this image - at a revision this image does not know, written by a newer
release - still serves this image. That is what lets old pods stay ready while a new release migrates,
and lets a rollback start after one.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine


class Standing(enum.Enum):
    """Where a database's schema stands relative to this image's newest migration."""

    EMPTY = "empty"  # never migrated
    BEHIND = "behind"  # at an older revision this image knows: `panel migrate` moves it forward
    CURRENT = "current"  # at this image's newest revision
    AHEAD = "ahead"  # at a revision this image does not know: a newer release migrated it

    @property
    def serves_this_image(self) -> bool:
        return self in (Standing.CURRENT, Standing.AHEAD)


@dataclass(frozen=True)
class SchemaState:
    standing: Standing
    revision: str | None  # the database's revision (None when never migrated)
    head: str  # this image's newest revision

    def describe(self) -> str:
        if self.standing is Standing.EMPTY:
            return f"database not migrated yet; this image needs revision {self.head}"
        if self.standing is Standing.BEHIND:
            return f"database at revision {self.revision}, behind this image's {self.head}"
        if self.standing is Standing.CURRENT:
            return f"database at revision {self.revision}, this image's newest"
        return (
            f"database at revision {self.revision}, ahead of this image's {self.head} "
            "(a newer release migrated it; its schema still serves this image)"
        )


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "panel:migrations")
    # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def standing_of(revision: str | None) -> Standing:
    if revision is None:
        return Standing.EMPTY
    if revision == head_revision():
        return Standing.CURRENT
    try:
        known = _scripts().get_revision(revision) is not None
    except CommandError:  # alembic's "Can't locate revision identified by ..."
        known = False
    return Standing.BEHIND if known else Standing.AHEAD


def state(engine: Engine) -> SchemaState:
    revision = current_revision(engine)
    return SchemaState(standing_of(revision), revision, head_revision())


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
