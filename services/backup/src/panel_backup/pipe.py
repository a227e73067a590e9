"""A bounded in-memory pipe between threads that carries failures, not just bytes.

The reading side raises the writer's exception *before* end-of-stream, so a consumer such as an
S3 multipart upload never sees a clean EOF after a failed source and aborts instead of committing.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any, Protocol

CHUNK = 1 << 20
_EOF = object()


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: Any, /) -> int: ...


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class PipeAbandoned(Exception):
    """The reading side went away; the writer should stop."""


class BoundedPipe:
    def __init__(self, max_chunks: int = 16) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(max_chunks)
        self._pending = memoryview(b"")
        self._done = False
        self._abandoned = threading.Event()

    # writer side
    def _put(self, item: Any) -> None:
        while not self._abandoned.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise PipeAbandoned("the reader stopped")

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if chunk:
            self._put(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._put(_EOF)

    def fail(self, error: BaseException) -> None:
        with contextlib.suppress(PipeAbandoned):
            self._put(_Failure(error))

    # reader side
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        while not self._pending:
            if self._done:
                return b""
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._abandoned.is_set():
                    raise PipeAbandoned("the pipe was abandoned") from None
                continue
            if item is _EOF:
                self._done = True
                return b""
            if isinstance(item, _Failure):
                self._done = True
                raise item.error
            if len(item) <= size:
                return item  # a whole chunk: handed over without a copy
            self._pending = memoryview(item)
        out = bytes(self._pending[:size])
        self._pending = self._pending[size:]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def abandon(self) -> None:
        """Called by the reader when it stops early, so a blocked writer is released."""
        self._abandoned.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
