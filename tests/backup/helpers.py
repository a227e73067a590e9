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


def store_crafted_backup(
    store: Path, recipient: str, plain: bytes, *, backup_type: str = "files", artifact_format: str = "tar"
) -> str:
    """A complete backup in a file:// store holding exactly `plain`, as a hostile or broken writer could
    make it: the real pipeline and manifest, so only the content is unusual. Returns its id."""
    import io
    import secrets
    from datetime import UTC, datetime

    import pyrage
    from panel_backup.manifest import Compression, Encryption, Manifest, write_manifest
    from panel_backup.pipeline import Encoder
    from panel_backup.storage import LocalStorage

    storage = LocalStorage(store)
    now = datetime.now(UTC)
    backup_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{backup_type}-{secrets.token_hex(3)}"
    key = f"{backup_type}/{backup_id}/{backup_type}.tar.zst.age"
    encoder = Encoder(
        io.BytesIO(plain),
        [pyrage.x25519.Recipient.from_str(recipient)],
        level=3,
        threads=0,
        progress_interval=0,
    )
    storage.put_stream(key, encoder.start(), None)
    stats = encoder.finish()
    write_manifest(
        storage,
        Manifest(
            id=backup_id,
            type=backup_type,
            artifact_key=key,
            artifact_format=artifact_format,
            tool_version="test",
            started_at=now,
            completed_at=now,
            plain_size=stats.plain_size,
            plain_sha256=stats.plain_sha256,
            stored_size=stats.stored_size,
            stored_sha256=stats.stored_sha256,
            compression=Compression(level=3),
            encryption=Encryption(mode="x25519", recipient_fingerprints=[]),
        ),
    )
    return backup_id


def tar_bytes(*members: tuple[str, str, str | bytes]) -> bytes:
    """A tar archive from (kind, name, link target or content); kind: file|dir|symlink|hardlink|fifo."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                data = value.encode() if isinstance(value, str) else value
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = str(value)
            tar.addfile(info)
    return buffer.getvalue()
