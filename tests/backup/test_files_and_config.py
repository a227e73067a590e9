"""Files and config backups: round trips, secrets, path traversal, locks, corruption, passphrase mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from panel_backup.locking import storage_lock
from panel_backup.storage import LocalStorage

from .conftest import AgeKey


def _env(store: Path, age_key: AgeKey, **extra: str) -> dict[str, str]:
    return {
        "BACKUP_TARGET": f"file://{store}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        **extra,
    }


def _uploads(root: Path) -> Path:
    uploads = root / "uploads"
    (uploads / "avatars").mkdir(parents=True)
    (uploads / "cache").mkdir()
    (uploads / "avatars" / "alice.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 40)
    (uploads / "avatars" / "bob.png").write_bytes(b"\x89PNG bob")
    (uploads / "report.csv").write_text("id,name\n1,alpha\n")
    (uploads / "cache" / "thumb.tmp").write_text("throwaway")
    (uploads / "notes.tmp").write_text("throwaway")
    return uploads


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_files_round_trip_with_excludes(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    uploads = _uploads(tmp_path)
    env = _env(
        tmp_path / "store", age_key, BACKUP_FILES_PATHS=str(uploads), BACKUP_FILES_EXCLUDE="*.tmp,cache"
    )
    assert run_cli(["create", "files"], env).exit_code == 0
    out = tmp_path / "restored"
    result = run_cli(["restore", "latest", "--component", "files", "--to", str(out)], env)
    assert result.exit_code == 0, result.output
    assert _tree(out / "uploads") == {k: v for k, v in _tree(uploads).items() if not k.endswith(".tmp")}

    refused = run_cli(["restore", "latest", "--component", "files", "--to", str(out)], env)
    assert refused.exit_code == 2 and "not empty" in refused.stderr


def test_config_backup_leaves_secrets_out(
    tmp_path: Path, age_key: AgeKey, run_cli: Any, monkeypatch: Any
) -> None:
    # A ConfigMap mount: keys are symlinks into a timestamped folder behind `..data`.
    config = tmp_path / "config"
    data = config / "..2026_01_01_00_00_00.000000001"
    data.mkdir(parents=True)
    (data / "panel.yaml").write_text("log_level: info\n")
    (data / "db-password").write_text("hunter2-secret")
    (config / "..data").symlink_to(data.name)
    for key in ("panel.yaml", "db-password"):
        (config / key).symlink_to(f"..data/{key}")
    monkeypatch.setenv("PANEL_URL", "https://panel.example.test")
    env = _env(tmp_path / "store", age_key, BACKUP_CONFIG_DIR=str(config))
    created = run_cli(["create", "config", "--json"], env)
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["source"]["skipped_as_secret"] == ["db-password"]
    out = tmp_path / "restored"
    assert run_cli(["restore", "latest", "--component", "config", "--to", str(out)], env).exit_code == 0
    restored = _tree(out / "config")
    assert set(restored) == {"panel.yaml", "panel-settings.json"}
    assert json.loads(restored["panel-settings.json"]) == {"PANEL_URL": "https://panel.example.test"}


def test_overlapping_files_runs_are_refused_and_expired_locks_are_taken_over(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    uploads = _uploads(tmp_path)
    store = tmp_path / "store"
    env = _env(store, age_key, BACKUP_FILES_PATHS=str(uploads))
    with storage_lock(LocalStorage(store), "files", ttl_seconds=3600):
        result = run_cli(["create", "files"], env)
    assert result.exit_code == 4
    assert "holds the lock" in result.stderr
    assert json.loads(run_cli(["list", "--json"], env).stdout) == []

    stale = store / "locks" / "files.json"
    stale.parent.mkdir(exist_ok=True)
    stale.write_text(
        json.dumps({"owner": "dead", "host": "gone", "pid": 1, "expires_at": "2000-01-01T00:00:00+00:00"})
    )
    assert run_cli(["create", "files"], env).exit_code == 0
    assert not stale.exists()


def test_corrupted_object_fails_verify(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    uploads = _uploads(tmp_path)
    env = _env(tmp_path / "store", age_key, BACKUP_FILES_PATHS=str(uploads))
    assert run_cli(["create", "files"], env).exit_code == 0
    assert run_cli(["verify"], env).exit_code == 0
    (artifact,) = (tmp_path / "store").rglob("*.tar.zst.age")
    damaged = bytearray(artifact.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    artifact.write_bytes(bytes(damaged))
    quick = run_cli(["verify", "latest", "--type", "files"], env)
    assert quick.exit_code == 3 and "differs from the manifest" in quick.stdout
    full = run_cli(["verify", "latest", "--full", "--json"], env)
    assert full.exit_code == 3
    assert json.loads(full.stdout)[0]["ok"] is False


def test_passphrase_mode_round_trip(tmp_path: Path, run_cli: Any) -> None:
    uploads = _uploads(tmp_path)
    secret_file = tmp_path / "passphrase"
    secret_file.write_text("correct horse battery staple\n")
    env = {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_PASSPHRASE_FILE": str(secret_file),
        "BACKUP_FILES_PATHS": str(uploads),
    }
    created = run_cli(["create", "files", "--json"], env)
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["encryption"]["mode"] == "passphrase"
    assert "correct horse" not in created.output
    out = tmp_path / "restored"
    assert run_cli(["restore", "latest", "--component", "files", "--to", str(out)], env).exit_code == 0
    assert _tree(out / "uploads") == _tree(uploads)

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase")
    result = run_cli(["verify", "--full"], {**env, "BACKUP_AGE_PASSPHRASE_FILE": str(wrong)})
    assert result.exit_code == 2 and "does not decrypt" in result.stderr


def test_a_folder_target_is_private_whatever_the_umask(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    """Artifacts and manifests (which name the host, database and tables) are 0600, folders 0700."""
    import os
    import stat

    uploads = _uploads(tmp_path)
    store = tmp_path / "store"
    env = _env(store, age_key, BACKUP_FILES_PATHS=str(uploads))
    previous = os.umask(0)
    try:
        assert run_cli(["create", "files"], env).exit_code == 0
    finally:
        os.umask(previous)
    modes = {p.relative_to(store).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in store.rglob("*")}
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert modes and all(
        mode == (0o700 if (store / name).is_dir() else 0o600) for name, mode in modes.items()
    )
    assert any(name.endswith("manifest.json") for name in modes)
