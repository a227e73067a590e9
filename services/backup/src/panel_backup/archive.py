"""Tar archives of files and config: the checks every member passes, shared by `restore` and `verify`.

A files backup stores links as links, wherever they point (an uploads volume may hold absolute
symlinks; stock `tar -x` restores them). What restore refuses is *writing through* a link: a member
whose path runs through a link, a file or folder landing on a link, a hard link whose source runs
through one or leaves the target. `MemberChecks` decides that from the archive alone, so
`verify --full` refuses exactly what `restore` refuses and "verify ok" means "restore works" into an
empty folder. `extract` adds the checks that need the disk (a `--force` target may already hold links).
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import Any

from .errors import IntegrityError

KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "folder",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hard link",
}


class UnsafeMember(IntegrityError):
    """The archive holds a member that restore would refuse."""


def _refuse(name: str, why: str) -> UnsafeMember:
    return UnsafeMember(f"refused {name!r}: {why}")


def _clean_path(name: str, what: str) -> str:
    """A relative, normalised archive path, or a refusal (absolute paths and `..` never restore)."""
    if not name or name.startswith("/") or "\x00" in name:
        raise _refuse(name, f"{what} is an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(name, f"{what} contains '..' and could leave the target")
    if not parts:
        raise _refuse(name, f"{what} names the target itself")
    return "/".join(parts)


class MemberChecks:
    """The archive-only checks, member by member in archive order.

    Memory grows with the number of symlinks in the archive (their paths are remembered), not with
    the number of files.
    """

    def __init__(self) -> None:
        self._links: set[str] = set()

    def _through_link(self, path: str) -> str | None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in self._links:
                return prefix
        return None

    def check(self, member: tarfile.TarInfo) -> str:
        """The member's clean path; raises UnsafeMember when restore must refuse it."""
        kind = KINDS.get(member.type)
        if kind is None:
            raise _refuse(member.name, "is a special file (device, fifo or unknown type); not restored")
        path = _clean_path(member.name, "its path")
        link = self._through_link(path)
        if link is not None:
            raise _refuse(member.name, f"would be written through the link {link}")
        if kind == "symlink":
            self._links.add(path)  # whatever it points to: it is stored and restored as a link
            return path
        if path in self._links:
            raise _refuse(member.name, f"would be written through the link {path}")
        if kind == "hard link":
            source = _clean_path(member.linkname, "its hard-link source")
            if source in self._links or self._through_link(source) is not None:
                raise _refuse(member.name, f"is a hard link through the link {source}")
        return path


def _first_link_on_disk(dest: Path, path: str, *, include_last: bool) -> str | None:
    parts = path.split("/")
    current = dest
    for depth, part in enumerate(parts if include_last else parts[:-1], start=1):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return None  # nothing below a missing folder can be a link yet
        if stat.S_ISLNK(info.st_mode):
            return "/".join(parts[:depth])
    return None


def _disk_check(dest: Path, path: str, member: tarfile.TarInfo) -> None:
    """What only the disk can tell (a `--force` target may hold links already): no folder on the way
    is a link, and a link standing where this member goes is replaced, never followed."""
    link = _first_link_on_disk(dest, path, include_last=False)
    if link is not None:
        raise _refuse(member.name, f"would be written through the link {link}")
    final = dest / path
    if not member.issym() and final.is_symlink():
        final.unlink()
    if member.islnk():
        source = _clean_path(member.linkname, "its hard-link source")
        link = _first_link_on_disk(dest, source, include_last=True)
        if link is not None:
            raise _refuse(member.name, f"is a hard link through the link {link}")


def _safe_attributes(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """Ownership is never restored; modes lose set-id, sticky and group/other write bits."""
    mode: int | None = None
    if member.isreg() or member.islnk():
        mode = (member.mode & 0o755) | 0o600
        if not member.mode & 0o100:
            mode &= ~0o111
    elif member.isdir():
        mode = (member.mode & 0o755) | 0o700
    changes: dict[str, Any] = {"name": path, "uid": None, "gid": None, "uname": None, "gname": None}
    changes["mode"] = mode
    if member.islnk():
        changes["linkname"] = _clean_path(member.linkname, "its hard-link source")
    return member.replace(**changes, deep=False)


def extract(stream: Any, dest: Path) -> int:
    """Extract a tar stream into `dest` (an existing folder); returns the number of members."""
    checks = MemberChecks()
    root = Path(os.path.realpath(dest))
    count = 0

    def member_filter(member: tarfile.TarInfo, _dest: str) -> tarfile.TarInfo:
        nonlocal count
        path = checks.check(member)
        _disk_check(root, path, member)
        count += 1
        return _safe_attributes(member, path)

    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(root, filter=member_filter)  # noqa: S202 - every member passes member_filter
    return count


def check_stream(stream: Any) -> int:
    """Read a tar stream to its end applying the archive-only checks; returns the number of members."""
    checks = MemberChecks()
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            checks.check(member)
            count += 1
    return count
