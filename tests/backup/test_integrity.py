"""Integrity reporting: a damaged object is an integrity problem (3) even where it looks like a wrong key,
an unreadable newest manifest fails verify instead of letting an older backup answer, and a manifest
changed after the backup was made is detected by its seal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import AgeKey
from .helpers import seed_database, sql


def _files_env(tmp_path: Path, age_key: AgeKey) -> dict[str, str]:
    data = tmp_path / "data"
    if not data.exists():
        data.mkdir()
        (data / "a.txt").write_text("alpha\n" * 1000)
    return {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_FILES_PATHS": str(data),
    }


def test_a_flipped_byte_in_the_age_header_is_damage_not_a_wrong_key(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    env = _files_env(tmp_path, age_key)
    assert run_cli(["create", "files"], env).exit_code == 0
    (artifact,) = (tmp_path / "store").rglob("*.tar.zst.age")
    damaged = bytearray(artifact.read_bytes())
    damaged[40] ^= 0x01  # inside the X25519 recipient stanza: age itself reports "no matching keys"
    artifact.write_bytes(bytes(damaged))

    verified = run_cli(["verify", "latest", "--full", "--json"], env)
    assert verified.exit_code == 3, verified.output
    assert "differs from the manifest's; the object is damaged" in json.loads(verified.stdout)[0]["error"]
    restored = run_cli(["restore", "latest", "--component", "files", "--to", str(tmp_path / "out")], env)
    assert restored.exit_code == 3 and "the object is damaged" in restored.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreadable_newest_manifest_fails_verify(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    env = _files_env(tmp_path, age_key)
    first = json.loads(run_cli(["create", "files", "--json"], env).stdout)["id"]
    newest = json.loads(run_cli(["create", "files", "--json"], env).stdout)["id"]
    manifest = next((tmp_path / "store").rglob(f"{newest}/manifest.json"))
    manifest.write_text(manifest.read_text()[:200])  # truncated, e.g. by a full disk

    verified = run_cli(["verify", "--json"], env)
    assert verified.exit_code == 3
    rows = {row["id"]: row for row in json.loads(verified.stdout)}
    assert rows[first]["ok"] is True
    assert rows[newest]["ok"] is False and "unreadable manifest (not JSON" in rows[newest]["error"]
    listed = run_cli(["list", "--json"], env)
    assert [item["id"] for item in json.loads(listed.stdout)] == [first]
    assert f"warning: files/{newest}/manifest.json: unreadable manifest" in listed.stderr


def _edit_manifest(store: Path, change: Any) -> None:
    (path,) = store.rglob("manifest.json")
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.mark.postgres
def test_an_edited_manifest_is_detected_by_its_seal(
    postgres_server: Any, postgres_database: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    seed_database(postgres_database, rows=50)
    store = tmp_path / "store"
    env = {
        "DATABASE_URL": postgres_database,
        "BACKUP_TARGET": f"file://{store}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
    }
    assert run_cli(["create", "database"], env).exit_code == 0
    verified = run_cli(["verify", "--full", "--json"], env)
    assert verified.exit_code == 0 and json.loads(verified.stdout)[0]["manifest_seal"] == "ok"

    _edit_manifest(store, lambda d: d["source"]["row_counts"].update({"public.servers": 49}))
    assert run_cli(["verify"], env).exit_code == 0  # size and SHA-256 of the object still match
    tampered = run_cli(["verify", "--full", "--json"], env)
    assert tampered.exit_code == 3
    assert "the manifest was changed after the backup was made" in json.loads(tampered.stdout)[0]["error"]
    restored = run_cli(["restore", "latest", "--component", "database", "--to", "restore_tampered"], env)
    assert restored.exit_code == 3 and "seal does not match" in restored.stderr
    assert sql(postgres_server.url(), "SELECT 1 FROM pg_database WHERE datname = 'restore_tampered'") == []
    drill = run_cli(["drill"], env)
    assert drill.exit_code == 3 and "seal does not match" in drill.stderr

    _edit_manifest(store, lambda d: d.pop("seal"))  # removing the seal is no way around it
    assert run_cli(["verify", "--full"], env).exit_code == 3


def test_the_seal_can_be_checked_by_hand_with_stock_age(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    """The README's recipe: stock `age` opens the seal, and Python's json module gives the same digest."""
    import base64
    import hashlib
    import subprocess

    env = _files_env(tmp_path, age_key)
    assert run_cli(["create", "files"], env).exit_code == 0
    (manifest,) = (tmp_path / "store").rglob("manifest.json")
    document = json.loads(manifest.read_text())
    opened = subprocess.run(
        ["age", "-d", "-i", str(age_key.path)],
        input=base64.b64decode(document.pop("seal")),
        capture_output=True,
        check=True,
    ).stdout.decode()
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert opened == f"panel-backup manifest seal v1\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def test_the_plaintext_is_checked_by_the_zstd_content_checksum(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    """New backups carry zstd's XXH64 of the plaintext (instead of a SHA-256 computed by the tool):
    verify --full and stock `zstd -d` both reject a frame whose content does not match it."""
    import hashlib
    import subprocess

    import pyrage
    import zstandard
    from panel_backup.manifest import Manifest
    from panel_backup.seal import seal

    env = _files_env(tmp_path, age_key)
    created = json.loads(run_cli(["create", "files", "--json"], env).stdout)
    verified = json.loads(run_cli(["verify", "--full", "--json"], env).stdout)[0]
    assert verified["content_checksum"] == "ok" and "plain_sha256" not in verified
    (artifact,) = (tmp_path / "store").rglob("*.tar.zst.age")
    (manifest_path,) = (tmp_path / "store").rglob("manifest.json")
    manifest = Manifest.model_validate_json(manifest_path.read_text())
    assert manifest.compression.content_checksum and manifest.plain_sha256 is None

    # The same plaintext, re-framed with a wrong checksum and re-encrypted: everything else is valid.
    plain = subprocess.run(  # noqa: S602 - the documented stock-tool pipeline
        f"age -d -i {age_key.path} {artifact} | zstd -d", shell=True, check=True, capture_output=True
    ).stdout
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(plain))
    frame[-1] ^= 0x01
    stored = pyrage.encrypt(bytes(frame), [pyrage.x25519.Recipient.from_str(age_key.public)])
    artifact.write_bytes(stored)
    manifest.stored_size, manifest.stored_sha256 = len(stored), hashlib.sha256(stored).hexdigest()
    manifest.seal = seal(manifest, [pyrage.x25519.Recipient.from_str(age_key.public)])
    manifest_path.write_text(manifest.model_dump_json(indent=2))

    failed = run_cli(["verify", created["id"], "--full", "--json"], env)
    assert failed.exit_code == 3
    assert "doesn't match checksum" in json.loads(failed.stdout)[0]["error"]
    stock = subprocess.run(f"age -d -i {age_key.path} {artifact} | zstd -d > /dev/null", shell=True)  # noqa: S602
    assert stock.returncode != 0
