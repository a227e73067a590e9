"""Reading the files that settings point at: bounded, UTF-8, and every failure one line naming the fix.

A `<NAME>_FILE` secret or a YAML overlay is read once at start-up. Only regular files are read (a FIFO
would block the start forever, `/dev/zero` would fill the memory), and only up to a size that no real
value or configuration reaches.
"""

from __future__ import annotations

import os
import stat

MAX_VALUE_FILE_BYTES = 64 * 1024  # a secret, a URL, a key list: far below this
MAX_CONFIG_FILE_BYTES = 1024 * 1024  # a YAML overlay


def read_text(path: str, variable: str, *, limit: int, fix: str) -> str:
    """The file's text (UTF-8, a leading byte-order mark dropped).

    Raises ValueError with one line naming ``variable``, the problem and ``fix`` (what to do about an
    unreadable file).
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ValueError(f"{variable}: {path} is {kind}; {fix}")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path} ({exc.strerror or exc}); {fix}") from None
    if len(data) > limit:
        raise ValueError(
            f"{variable}: {path} is larger than {limit // 1024} KiB; point {variable} at the right file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{variable}: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def read_value(path: str, variable: str) -> str:
    """One setting's value from a `<NAME>_FILE` file: surrounding whitespace and newlines removed."""
    fix = f"mount the file there or unset {variable}"
    value = read_text(path, variable, limit=MAX_VALUE_FILE_BYTES, fix=fix).strip()
    if not value:
        raise ValueError(f"{variable}: {path} is empty; write the value into it or unset {variable}")
    if "\x00" in value:
        raise ValueError(f"{variable}: {path} contains a NUL byte; write the value as plain text")
    return value
