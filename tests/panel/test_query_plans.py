"""The hot list queries use the indexes on PostgreSQL (real plans, with statistics; no planner tricks).

Seeds enough rows for a sequential scan to lose on cost, runs ANALYZE, and reads the plans of the
exact SQL the list endpoint sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from panel.db import make_engine
from panel.listing import ServerFilters, encode_cursor, servers_query
from panel.models import Server, ServerTag
from panel.settings import load_settings
from panel_helpers import migrate
from sqlalchemy import Engine, insert, text
from sqlalchemy.dialects import postgresql

ROWS = 20_000


@pytest.fixture(scope="module")
def seeded_engine(postgres_server: object) -> Iterator[Engine]:
    name = postgres_server.create_database()  # type: ignore[attr-defined]
    url = postgres_server.url(name)  # type: ignore[attr-defined]
    migrate(url)
    engine = make_engine(load_settings(environ={}, database_url=url))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    servers, tags = [], []
    for i in range(1, ROWS + 1):
        status = "down" if i % 50 == 0 else "unknown" if i % 10 == 0 else "up"
        tag_list = sorted({f"tag{i % 97}", f"env{i % 3}"})
        servers.append(
            {
                "id": i,
                "name": f"server-{i:06d}",
                "address": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                "port": 22,
                "protocol": "tcp",
                "tags": tag_list,
                "owner": f"team{i % 200}",
                "status": status,
                "created_at": start + timedelta(minutes=i),
                "updated_at": start + timedelta(minutes=i),
            }
        )
        tags += [{"server_id": i, "tag": tag} for tag in tag_list]
    with engine.begin() as connection:
        connection.execute(insert(Server), servers)
        connection.execute(insert(ServerTag), tags)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    yield engine
    engine.dispose()
    postgres_server.drop_database(name)  # type: ignore[attr-defined]


def plan(engine: Engine, filters: ServerFilters, sort: str = "id", cursor: str | None = None) -> str:
    statement = servers_query(filters, sort, 50, cursor)
    sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        return "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))


def cursor_after(sort: str, server_id: int) -> str:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    row = Server(
        id=server_id,
        name=f"server-{server_id:06d}",
        status="up",
        created_at=start + timedelta(minutes=server_id),
    )
    return encode_cursor(sort, row)


@pytest.mark.parametrize(
    ("filters", "sort", "index"),
    [
        (ServerFilters(status="down"), "id", "ix_servers_status_id"),
        (ServerFilters(owner="team7"), "id", "ix_servers_owner_id"),
        (ServerFilters(tag="tag42"), "id", "ix_server_tags_tag_server_id"),
        (ServerFilters(), "-created_at", "ix_servers_created_at_id"),
        (ServerFilters(), "name", "ix_servers_name_id"),
        (ServerFilters(), "id", "servers_pkey"),
    ],
)
def test_list_queries_use_their_index(
    seeded_engine: Engine, filters: ServerFilters, sort: str, index: str
) -> None:
    first_page = plan(seeded_engine, filters, sort)
    assert index in first_page, first_page
    assert "Seq Scan" not in first_page, first_page
    # Deep pages stay index range scans too (keyset, not OFFSET).
    deep_page = plan(seeded_engine, filters, sort, cursor_after(sort, ROWS // 2))
    assert index in deep_page and "Seq Scan" not in deep_page, deep_page
