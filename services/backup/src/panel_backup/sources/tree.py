"""Files and config: a tar stream of chosen paths, produced in a thread into a bounded pipe."""

from __future__ import annotations

import fnmatch
import json
import os
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ConfigError, SourceError
from ..pipe import BoundedPipe, PipeAbandoned
from ..redact import redact_url


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
        if root.is_file():
            yield Entry(root, top)
            continue
        yield Entry(root, top)
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


class TarSource:
    """Runs a tar writer in a thread; `reader` raises if tar fails, before end-of-stream."""

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
            if entry.path.is_file():
                size += entry.path.stat().st_size
        self.expected_size = size
        self.metadata: dict[str, Any] = {"format": "tar", "entries_at_start": count + len(self.extra_files)}
        self._thread = threading.Thread(target=self._run, name="tar", daemon=True)

    def _run(self) -> None:
        try:
            with tarfile.open(fileobj=self.pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for entry in self.entries():
                    info = tar.gettarinfo(str(entry.path), arcname=entry.arcname)
                    if info.isreg():
                        with open(entry.path, "rb") as handle:
                            tar.addfile(info, handle)
                    else:
                        tar.addfile(info)
                for name, data in self.extra_files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = int(time.time())
                    info.mode = 0o644
                    tar.addfile(info, BytesIO(data))
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

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.pipe.abandon()
        self._thread.join(timeout=30)
