"""Files backups of real trees: every kind of entry restores as it was, `verify --full` applies exactly
the checks `restore` applies, nothing is ever written through a link, and failures exit with their
documented codes (never SIGABRT) and leave no half-restored folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from .conftest import AgeKey
from .helpers import passthrough_env, store_crafted_backup, tar_bytes


def _env(store: Path, age_key: AgeKey, **extra: str) -> dict[str, str]:
    return {
        "BACKUP_TARGET": f"file://{store}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_PROGRESS_INTERVAL_SECONDS": "0",
        **extra,
    }


def _snapshot(root: Path) -> dict[str, tuple[str, Any]]:
    """Every entry under root without following links: (kind, link target | content | None)."""
    found: dict[str, tuple[str, Any]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[relative] = ("symlink", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", None)
            else:
                found[relative] = ("file", path.read_bytes())
    return found


def _tricky_tree(base: Path) -> tuple[Path, Path]:
    """A tree with every kind of entry the drills found trouble with; returns (tree, a folder outside it)."""
    outside = base / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("outside the tree")
    tree = base / "uploads"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "readme.txt").write_text("read me\n")
    os.link(tree / "docs" / "readme.txt", tree / "docs" / "readme-hard-link.txt")
    (tree / "absolute-link").symlink_to(outside / "target.txt")
    (tree / "relative-link").symlink_to("docs/readme.txt")
    (tree / "escaping-link").symlink_to("../outside/target.txt")
    (tree / "folder-link").symlink_to("docs")
    (tree / "dangling-link").symlink_to("does/not/exist")
    (tree / "with space").mkdir()
    (tree / "with space" / "a file name.txt").write_text("spaces")
    (tree / "ünïcödé").mkdir()
    (tree / "ünïcödé" / "日本語.txt").write_text("テキスト")
    (tree / "empty.txt").write_bytes(b"")
    (tree / "empty-folder").mkdir()
    with open(tree / "sparse.bin", "wb") as handle:
        handle.truncate(8 * 1024 * 1024)
        handle.seek(6 * 1024 * 1024)
        handle.write(b"data in the middle of a hole")
    (tree / "growing.log").write_bytes(b"first line\n" * 1000)
    return tree, outside


def test_every_kind_of_entry_restores_as_it_was_and_as_stock_tar_restores_it(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    tree, outside = _tricky_tree(tmp_path)
    before_outside = _snapshot(outside)
    env = _env(tmp_path / "store", age_key, BACKUP_FILES_PATHS=str(tree))

    stop = threading.Event()

    def append() -> None:  # a log being written to while the backup reads it
        with open(tree / "growing.log", "ab") as handle:
            while not stop.is_set():
                handle.write(b"appended line\n" * 100)
                handle.flush()

    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    try:
        created = run_cli(["create", "files", "--json"], env)
    finally:
        stop.set()
        writer.join()
    assert created.exit_code == 0, created.output

    verified = run_cli(["verify", "latest", "--full", "--json"], env)
    assert verified.exit_code == 0, verified.output

    restored = tmp_path / "restored"
    result = run_cli(["restore", "latest", "--component", "files", "--to", str(restored)], env)
    assert result.exit_code == 0, result.output

    original, copy = _snapshot(tree), _snapshot(restored / "uploads")
    grown = original.pop("growing.log")[1]
    kind, partial = copy.pop("growing.log")
    assert kind == "file" and len(partial) >= 11_000 and grown.startswith(partial)
    assert copy == original  # links as links (same targets), folders, contents, sparse and empty files
    readme = restored / "uploads" / "docs" / "readme.txt"
    assert readme.stat().st_ino == (readme.parent / "readme-hard-link.txt").stat().st_ino
    assert _snapshot(outside) == before_outside

    (artifact,) = (tmp_path / "store").rglob("*.tar.zst.age")
    stock = tmp_path / "stock"
    stock.mkdir()
    subprocess.run(  # noqa: S602 - the documented stock-tool pipeline
        f"age -d -i {age_key.path} {artifact} | zstd -d | tar -x -C {stock}", shell=True, check=True
    )
    assert _snapshot(stock) == _snapshot(restored)


HOSTILE = {
    "a member under an absolute link": [("symlink", "evil", "{outside}"), ("file", "evil/pwned.txt", "x")],
    "a member under a relative link": [
        ("dir", "a", ""),
        ("symlink", "a/up", "../../outside"),
        ("file", "a/up/pwned.txt", "x"),
    ],
    "a file over a link": [("symlink", "note.txt", "{outside}/target.txt"), ("file", "note.txt", "x")],
    "a folder over a link": [("symlink", "folder", "{outside}"), ("dir", "folder", "")],
    "a hard link leaving the target": [("hardlink", "hard", "../outside/target.txt")],
    "a hard link to an absolute path": [("hardlink", "hard", "{outside}/target.txt")],
    "a hard link through a link": [("symlink", "evil", "{outside}"), ("hardlink", "hard", "evil/target.txt")],
    "a path with ..": [("file", "../pwned.txt", "x")],
    "an absolute path": [("file", "{outside}/pwned.txt", "x")],
    "a fifo": [("fifo", "pipe", "")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_fail_verify_and_restore_alike_and_write_nothing_outside(
    case: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("outside the tree")
    members = [
        (kind, name.format(outside=outside), value.format(outside=outside))
        for kind, name, value in HOSTILE[case]
    ]
    store = tmp_path / "store"
    backup_id = store_crafted_backup(store, age_key.public, tar_bytes(*members))
    env = _env(store, age_key)

    verified = run_cli(["verify", backup_id, "--full", "--json"], env)
    assert verified.exit_code == 3, verified.output
    (row,) = json.loads(verified.stdout)
    assert row["ok"] is False and "refused" in row["error"]

    target = tmp_path / "restore-here"
    restored = run_cli(["restore", backup_id, "--component", "files", "--to", str(target)], env)
    assert restored.exit_code == 3, restored.output
    assert row["error"].split(": ", 1)[1] in restored.stderr  # the same check, the same words
    assert "removed the partly restored folder" in restored.stderr
    assert not target.exists()
    assert _snapshot(outside) == {"target.txt": ("file", b"outside the tree")}
    assert not (tmp_path / "pwned.txt").exists()


def test_force_restore_replaces_links_in_the_target_and_never_follows_them(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("outside the tree")
    store = tmp_path / "store"
    backup_id = store_crafted_backup(
        store, age_key.public, tar_bytes(("file", "note.txt", "restored"), ("file", "docs/readme.txt", "r"))
    )
    env = _env(store, age_key)

    target = tmp_path / "target"
    target.mkdir()
    (target / "note.txt").symlink_to(outside / "target.txt")
    result = run_cli(["restore", backup_id, "--component", "files", "--to", str(target), "--force"], env)
    assert result.exit_code == 0, result.output
    assert not (target / "note.txt").is_symlink() and (target / "note.txt").read_text() == "restored"
    assert (outside / "target.txt").read_text() == "outside the tree"

    (target / "docs" / "readme.txt").unlink()
    (target / "docs").rmdir()
    (target / "docs").symlink_to(outside)
    result = run_cli(["restore", backup_id, "--component", "files", "--to", str(target), "--force"], env)
    assert result.exit_code == 3
    assert "through the link docs" in result.stderr
    assert "may hold partly restored files" in result.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]


def _panel_backup(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "panel-backup"
    return subprocess.run(
        [str(binary), *args],
        env={**passthrough_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_failures_exit_with_their_codes_in_a_real_process_never_sigabrt(
    tmp_path: Path, age_key: AgeKey
) -> None:
    """The decoder thread is joined on every error path: an abandoned one made the interpreter abort."""
    store = tmp_path / "store"
    not_a_tar = store_crafted_backup(store, age_key.public, b"this is not a tar archive\n" * 4096)
    hostile = store_crafted_backup(
        store, age_key.public, tar_bytes(("file", "ok.txt", "fine" * 10_000), ("file", "../pwned.txt", "x"))
    )
    env = _env(store, age_key)
    for attempt in range(5):
        verify = _panel_backup(["verify", not_a_tar, "--full"], env)
        assert verify.returncode == 3, (attempt, verify.returncode, verify.stderr[-2000:])
        assert "not a readable tar archive" in verify.stdout
        target = tmp_path / f"restore-{attempt}"
        restore = _panel_backup(["restore", hostile, "--component", "files", "--to", str(target)], env)
        assert restore.returncode == 3, (attempt, restore.returncode, restore.stderr[-2000:])
        assert "Traceback" not in restore.stderr and not target.exists()


def test_sockets_and_fifos_are_skipped_and_a_linked_root_is_stored_as_a_folder(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    import socket

    tree = tmp_path / "real-uploads"
    tree.mkdir()
    (tree / "kept.txt").write_text("kept")
    os.mkfifo(tree / "a-fifo")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tree / "a-socket"))
    (tmp_path / "uploads").symlink_to(tree)  # the configured path is a link to the volume
    env = _env(tmp_path / "store", age_key, BACKUP_FILES_PATHS=str(tmp_path / "uploads"))
    try:
        created = run_cli(["create", "files", "--json"], env)
    finally:
        listener.close()
    assert created.exit_code == 0, created.output
    skipped = json.loads(created.stdout)["source"]["skipped_special"]
    assert skipped == {"count": 2, "first": ["uploads/a-fifo", "uploads/a-socket"]}
    assert run_cli(["verify", "latest", "--full"], env).exit_code == 0
    restored = tmp_path / "restored"
    assert run_cli(["restore", "latest", "--component", "files", "--to", str(restored)], env).exit_code == 0
    assert _snapshot(restored) == {"uploads": ("dir", None), "uploads/kept.txt": ("file", b"kept")}
