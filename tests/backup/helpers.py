"""Small helpers shared by the backup tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg2


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def seed_database(url: str, *, rows: int = 2000, random_bytes_rows: int = 0) -> None:
    """A small panel-like schema; random_bytes_rows adds incompressible data (32 bytes a row)."""
    sql(
        url,
        """
        CREATE TABLE servers (id serial PRIMARY KEY, name text NOT NULL, address text, port int);
        CREATE TABLE checks (id bigserial PRIMARY KEY, server_id int REFERENCES servers(id), ok boolean);
        CREATE SCHEMA audit;
        CREATE TABLE audit.events (id bigserial PRIMARY KEY, payload bytea);
        """,
    )
    sql(
        url,
        "INSERT INTO servers (name, address, port) SELECT 'srv-' || g, '10.0.0.' || g %% 250, 22 "
        "FROM generate_series(1, %s) g",
        (rows,),
    )
    sql(
        url,
        "INSERT INTO checks (server_id, ok) SELECT 1 + g %% %s, g %% 3 = 0 FROM generate_series(1, %s) g",
        (rows, rows * 3),
    )
    if random_bytes_rows:
        sql(
            url,
            "INSERT INTO audit.events (payload) "
            "SELECT decode(md5(random()::text) || md5(random()::text), 'hex') "
            "FROM generate_series(1, %s)",
            (random_bytes_rows,),
        )


def counts(url: str) -> dict[str, int]:
    return {
        "public.servers": sql(url, "SELECT count(*) FROM servers")[0][0],
        "public.checks": sql(url, "SELECT count(*) FROM checks")[0][0],
        "audit.events": sql(url, "SELECT count(*) FROM audit.events")[0][0],
    }


def manifests_in(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("manifest.json"))]


def with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name
