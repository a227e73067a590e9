"""Files and config: a tar stream of chosen paths, produced in a thread into a bounded pipe."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any

from service_settings import redact_url

from ..errors import ConfigError, SourceError
from ..pipe import BoundedPipe, PipeAbandoned


@dataclass
class Entry:
    path: Path  # on disk
    arcname: str  # inside the tar


def _matches(relative: str, patterns: list[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def walk_paths(roots: list[str], include: list[str], exclude: list[str]) -> Iterator[Entry]:
    """Each root is stored under its own folder name; exclude wins over include; order is stable."""
    seen: set[str] = set()
    for root_text in roots:
        root = Path(root_text)
        if not root.exists():
            raise ConfigError(f"BACKUP_FILES_PATHS: {root} does not exist; fix the path or mount the volume")
        top = root.name or "root"
        if top in seen:
            raise ConfigError(f"BACKUP_FILES_PATHS: two paths end in {top!r}; their contents would collide")
        seen.add(top)
        # A root given through a link is stored as what it points to: its contents live under it.
        yield Entry(root.resolve(), top)
        if root.is_file():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            prefix = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = sorted(d for d in dirnames if not _matches(prefix + d, exclude))
            for dirname in dirnames:
                yield Entry(Path(dirpath) / dirname, f"{top}/{prefix}{dirname}")
            for filename in sorted(filenames):
                relative = prefix + filename
                if _matches(relative, exclude) or (include and not _matches(relative, include)):
                    continue
                yield Entry(Path(dirpath) / filename, f"{top}/{relative}")


def config_entries(
    config_dir: Path, include_secrets: bool, secret_patterns: list[str]
) -> tuple[list[Entry], list[str]]:
    """A mounted ConfigMap: keys are symlinks into a hidden `..data` folder; skip dot names, follow links."""
    if not config_dir.is_dir():
        raise ConfigError(
            f"BACKUP_CONFIG_DIR={config_dir}: not a directory; mount the panel's ConfigMap there"
        )
    entries, skipped = [], []
    for item in sorted(config_dir.iterdir()):
        if item.name.startswith("."):
            continue
        if not include_secrets and _matches(item.name.lower(), secret_patterns):
            skipped.append(item.name)
            continue
        if item.is_file():
            entries.append(Entry(item.resolve(), f"config/{item.name}"))
    return entries, skipped


def settings_document(names: list[str]) -> bytes:
    """The panel's non-secret settings from the environment; URLs lose their passwords."""
    values = {}
    for name in names:
        value = os.environ.get(name)
        if value is not None:
            values[name] = redact_url(value) if "://" in value else value
    return json.dumps(values, indent=2, sort_keys=True).encode()


MAX_NAMES_RECORDED = 50  # per list in the manifest; the counts are always complete


class _Padded:
    """Reads exactly `size` bytes of a file that may shrink while it is read: what is missing becomes
    zeros (as GNU tar does), so the archive stays well-formed; the caller records the file."""

    def __init__(self, handle: Any, size: int) -> None:
        self.handle = handle
        self.remaining = size
        self.shrank = False

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size < 0 else min(size, self.remaining)
        data = self.handle.read(size)
        if len(data) < size:
            self.shrank = True
            data += bytes(size - len(data))
        self.remaining -= len(data)
        return bytes(data)


class TarSource:
    """Runs a tar writer in a thread; `reader` raises if tar fails, before end-of-stream.

    Entries are stored as they are on disk, links as links; sockets, fifos and devices are skipped
    (restore would refuse them), and so are files deleted between the walk and the read. Each regular
    file is opened without following links and described from that open file, so its header and its
    bytes come from the same file even while the tree changes.
    """

    def __init__(
        self, entries: Callable[[], Iterable[Entry]], extra_files: dict[str, bytes] | None = None
    ) -> None:
        # `entries` is walked twice (sizes now, contents later) rather than held in memory: an uploads
        # volume can have millions of files.
        self.entries = entries
        self.extra_files = extra_files or {}
        self.pipe = BoundedPipe()
        self.reader = self.pipe
        count, size = 0, sum(len(v) for v in self.extra_files.values())
        for entry in entries():
            count += 1
            with contextlib.suppress(OSError):
                info = os.lstat(entry.path)
                if stat.S_ISREG(info.st_mode):
                    size += info.st_size
        self.expected_size = size
        self.metadata: dict[str, Any] = {"format": "tar", "entries_at_start": count + len(self.extra_files)}
        self._noted: dict[str, list[str]] = {"skipped_special": [], "vanished": [], "shrank_while_read": []}
        self._counts: dict[str, int] = dict.fromkeys(self._noted, 0)
        self._thread = threading.Thread(target=self._run, name="tar", daemon=True)

    def _note(self, what: str, arcname: str) -> None:
        self._counts[what] += 1
        if len(self._noted[what]) < MAX_NAMES_RECORDED:
            self._noted[what].append(arcname)

    def _add(self, tar: tarfile.TarFile, entry: Entry) -> None:
        try:
            mode = os.lstat(entry.path).st_mode
            if not stat.S_ISREG(mode):
                info = tar.gettarinfo(str(entry.path), arcname=entry.arcname)
                if info is None or not (info.isdir() or info.issym()):
                    self._note("skipped_special", entry.arcname)
                    return
                tar.addfile(info)
                return
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self._note("vanished", entry.arcname)
            return
        with os.fdopen(fd, "rb") as handle:
            info = tar.gettarinfo(arcname=entry.arcname, fileobj=handle)
            if not info.isreg() and not info.islnk():
                self._note("skipped_special", entry.arcname)  # replaced by something else meanwhile
                return
            padded = _Padded(handle, info.size if info.isreg() else 0)
            tar.addfile(info, padded if info.isreg() else None)
            if padded.shrank:
                self._note("shrank_while_read", entry.arcname)

    def _run(self) -> None:
        try:
            with tarfile.open(fileobj=self.pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for entry in self.entries():
                    self._add(tar, entry)
                for name, data in self.extra_files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = int(time.time())
                    info.mode = 0o644
                    tar.addfile(info, BytesIO(data))
            for what, names in self._noted.items():
                if self._counts[what]:
                    self.metadata[what] = {"count": self._counts[what], "first": names}
            self.pipe.close()
        except PipeAbandoned:
            pass
        except OSError as exc:
            self.pipe.fail(
                SourceError(
                    f"tar failed on {exc.filename or 'a file'}: {exc.strerror or exc}", stage="source"
                )
            )
        except BaseException as exc:
            self.pipe.fail(SourceError(f"tar failed: {exc}", stage="source"))

    def __enter__(self) -> TarSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the tar thread (the run failed or was interrupted) and wait for it."""
        self.pipe.abandon()
        self._thread.join()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
