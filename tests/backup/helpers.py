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
    from panel_backup.crypto import fingerprint
    from panel_backup.manifest import Compression, Encryption, Manifest, write_manifest
    from panel_backup.pipeline import Encoder
    from panel_backup.seal import seal
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
    manifest = Manifest(
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
        encryption=Encryption(mode="x25519", recipient_fingerprints=[fingerprint(recipient)]),
    )
    manifest.seal = seal(manifest, [pyrage.x25519.Recipient.from_str(recipient)])
    write_manifest(storage, manifest)
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


def passthrough_env() -> dict[str, str]:
    """What a child `panel-backup` inherits from the test run: PATH, and PYTHONPATH when set (to run
    the suite against another checkout of the code)."""
    import os

    return {name: os.environ[name] for name in ("PATH", "PYTHONPATH") if name in os.environ}


class BackgroundRun:
    """`panel-backup ...` as a real process, its output collected while it runs, so that a test can wait
    for a condition (never a duration) and then send it a real signal."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import subprocess
        import sys
        import threading

        binary = Path(sys.executable).parent / "panel-backup"
        self.process = subprocess.Popen(
            [str(binary), *args],
            env={**passthrough_env(), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._collect, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, condition: Any, what: str, timeout: float = 180) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"exited {self.process.returncode} before {what}:\n" + "\n".join(self.stderr)
                )
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"no {what} within {timeout} s:\n" + "\n".join(self.stderr))
            time.sleep(0.05)

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.stderr)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 180) -> int:
        import subprocess

        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("did not exit:\n" + "\n".join(self.stderr)) from None
        for reader in self._readers:
            reader.join(10)
        return code

    def error_lines(self) -> list[str]:
        """stderr without the JSON log lines: what a person reads."""
        return [line for line in self.stderr if not line.startswith("{")]


def stalling_pg_tool(bin_dir: Path, real_bin: Path, tool: str, token: str, after_bytes: int) -> None:
    """A pg_dump or pg_restore that does real work for `after_bytes` bytes, then stalls forever holding
    its pipes, as a tool stuck on a slow server does. Its stalled process is named `token`."""
    import stat

    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / tool
    if tool == "pg_dump":
        work = f'{real_bin}/pg_dump "$@" | head -c {after_bytes}'
    else:
        work = f"head -c {after_bytes} > /dev/null"
    script.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "--version" ]; then exec {real_bin}/{tool} --version; fi\n'
        f"{work}\n"
        f"exec -a {token} sleep 900\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    for other in ("pg_dump", "pg_restore"):
        if not (bin_dir / other).exists():
            (bin_dir / other).symlink_to(real_bin / other)


def processes_named(token: str) -> list[int]:
    """Pids whose argv[0] is `token` (the stalled tool above, if still alive)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            if argv0 == token.encode():
                found.append(int(entry.name))
    return found
