"""The streaming pipeline: plaintext -> zstd -> age -> SHA-256 -> storage, and back again.

Memory stays bounded: every stage passes chunks of at most a few MiB, nothing is spooled to disk.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyrage
import zstandard

from .errors import BackupError, ConfigError, IntegrityError
from .logs import get_logger
from .pipe import CHUNK, BoundedPipe, PipeAbandoned, Readable, Writable

log = get_logger("pipeline")


class Progress:
    """Logs a line every few seconds: bytes so far and throughput."""

    def __init__(self, label: str, interval: float) -> None:
        self.label = label
        self.interval = interval
        self.started = time.monotonic()
        self._last = self.started

    def tick(self, total: int) -> None:
        now = time.monotonic()
        if self.interval > 0 and now - self._last >= self.interval:
            self._last = now
            elapsed = now - self.started
            log.info(
                "progress",
                extra={
                    "stage": self.label,
                    "bytes": total,
                    "mb_per_s": round(total / 1e6 / elapsed, 1) if elapsed else None,
                },
            )


class _NoDigest:
    def update(self, data: Any) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


class HashingReader:
    """Counts and hashes what passes through; remembers the source's own error for a clear report.
    Without `digest` it only counts (SHA-256 costs about 0.7 s of CPU per GB)."""

    def __init__(self, source: Readable, progress: Progress | None = None, *, digest: bool = True) -> None:
        self.source = source
        self.sha256: Any = hashlib.sha256() if digest else _NoDigest()
        self.size = 0
        self.progress = progress
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.source.read(size)
        except BaseException as exc:
            self.error = exc
            raise
        self.sha256.update(data)
        self.size += len(data)
        if self.progress:
            self.progress.tick(self.size)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class HashingWriter:
    def __init__(self, sink: Writable, progress: Progress | None = None, *, digest: bool = True) -> None:
        self.sink = sink
        self.sha256: Any = hashlib.sha256() if digest else _NoDigest()
        self.size = 0
        self.progress = progress
        self.error: BaseException | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        try:
            self.sink.write(view)
        except BaseException as exc:
            self.error = exc
            raise
        self.sha256.update(view)
        self.size += len(view)
        if self.progress:
            self.progress.tick(self.size)
        return len(view)

    def flush(self) -> None:
        pass


@dataclass
class StreamStats:
    plain_size: int = 0
    plain_sha256: str = ""
    stored_size: int = 0
    stored_sha256: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Encoder:
    """Runs compression and encryption in a thread, feeding a BoundedPipe that storage reads from."""

    def __init__(
        self,
        plain: Readable,
        recipients: list[pyrage.x25519.Recipient],
        *,
        level: int,
        threads: int,
        progress_interval: float,
    ) -> None:
        self.pipe = BoundedPipe()
        # The plaintext is checked by zstd's frame checksum (XXH64), written into the frame and verified
        # whenever it is decompressed, by this tool or stock `zstd -d`: no SHA-256 of it is needed.
        self._plain = HashingReader(plain, Progress("read", progress_interval), digest=False)
        self._stored = HashingWriter(self.pipe)
        self._recipients = recipients
        self._level = level
        self._threads = threads
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="encoder", daemon=True)
        self._started = 0.0

    def start(self) -> BoundedPipe:
        self._started = time.monotonic()
        self._thread.start()
        return self.pipe

    def _run(self) -> None:
        try:
            compressor = zstandard.ZstdCompressor(
                level=self._level, threads=self._threads, write_checksum=True
            )
            plain: Any = self._plain  # zstandard's stubs want IO[bytes]; it only calls read()
            with compressor.stream_reader(plain, read_size=CHUNK, closefd=False) as compressed:
                pyrage.encrypt_io(compressed, self._stored, self._recipients)
            self.pipe.close()
        except BaseException as exc:
            # pyrage wraps Python errors raised by the reader; report the source's own error instead.
            self._error = self._plain.error or self._stored.error or exc
            self.pipe.fail(self._error)

    def finish(self) -> StreamStats:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return StreamStats(
            plain_size=self._plain.size,
            plain_sha256="",
            stored_size=self._stored.size,
            stored_sha256=self._stored.sha256.hexdigest(),
            seconds=time.monotonic() - self._started,
        )

    def abandon(self) -> None:
        """Release the encoder and wait for it; stop its source first, or a stalled source keeps it."""
        self.pipe.abandon()
        self._thread.join()


class _Closing:
    """Adapter so zstd's stream_writer can write into any sink without closing it."""

    def __init__(self, sink: Writable) -> None:
        self.sink = sink

    def write(self, data: Any) -> int:
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True


def decode(
    stored: Readable,
    sink: Writable,
    identities: list[pyrage.x25519.Identity],
    *,
    expected_stored_sha256: str | None = None,
    expected_plain_sha256: str | None = None,
    progress_interval: float = 10.0,
    what: str = "backup",
) -> StreamStats:
    """Decrypt and decompress `stored` into `sink`, checking both checksums when given."""
    started = time.monotonic()
    stored_reader = HashingReader(stored, Progress("restore", progress_interval))
    plain_writer = HashingWriter(sink, digest=bool(expected_plain_sha256))  # older manifests record one
    decompressor = zstandard.ZstdDecompressor()
    writer = decompressor.stream_writer(_Closing(plain_writer), write_size=CHUNK, closefd=False)  # type: ignore[arg-type]
    try:
        pyrage.decrypt_io(stored_reader, writer, identities)
        writer.flush()
    except pyrage.DecryptError as exc:
        if stored_reader.error:
            raise stored_reader.error from None
        if plain_writer.error:
            raise plain_writer.error from None
        text = str(exc)
        if expected_stored_sha256 and _rest_hashes_to(stored_reader) != expected_stored_sha256:
            # A damaged header also reads as "no matching keys": the stored SHA-256 tells them apart.
            raise IntegrityError(
                f"{what}: stored SHA-256 differs from the manifest's; the object is damaged ({text})"
            ) from None
        if "No matching keys" in text or "no identity matched" in text.lower():
            raise ConfigError(
                f"the age identity does not match any recipient of {what}; use the key file whose "
                "public key the backup was encrypted to "
                "(see `panel-backup list --json`, encryption.recipient_fingerprints)"
            ) from None
        raise IntegrityError(
            f"{what} cannot be decrypted: {text} (the object is damaged or truncated)"
        ) from None
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{what} does not decompress: {exc} (the object is damaged)") from None
    except Exception as exc:
        if stored_reader.error:
            raise stored_reader.error from None
        if plain_writer.error:
            raise plain_writer.error from None
        if isinstance(exc, OSError):  # pyrage reports a failed chunk authentication as an OSError
            raise IntegrityError(
                f"{what} cannot be decrypted: {exc} (the object is damaged or truncated)"
            ) from None
        raise
    stats = StreamStats(
        plain_size=plain_writer.size,
        plain_sha256=plain_writer.sha256.hexdigest(),
        stored_size=stored_reader.size,
        stored_sha256=stored_reader.sha256.hexdigest(),
        seconds=time.monotonic() - started,
    )
    if expected_stored_sha256 and stats.stored_sha256 != expected_stored_sha256:
        raise IntegrityError(f"{what}: stored SHA-256 {stats.stored_sha256} differs from the manifest's")
    if expected_plain_sha256 and stats.plain_sha256 != expected_plain_sha256:
        raise IntegrityError(f"{what}: plaintext SHA-256 {stats.plain_sha256} differs from the manifest's")
    return stats


def _rest_hashes_to(reader: HashingReader) -> str:
    """Read what is left of a stored object through its hashing reader; the SHA-256 of all of it."""
    while reader.read(CHUNK):
        pass
    return reader.sha256.hexdigest()


class DecodeThread:
    """Decode in a thread into a pipe, for consumers that pull from a reader (tar extraction).

    Used as a context manager so that every way out joins the thread: leaving the block on an error
    abandons the pipe (a blocked decoder is released) and waits for the decoder to end. A thread
    left running inside the decryption library when the interpreter exits aborts the process.
    """

    def __init__(self, stored: Readable, identities: list[pyrage.x25519.Identity], **kwargs: Any) -> None:
        self.pipe = BoundedPipe()
        self._stored = stored
        self._identities = identities
        self._kwargs = kwargs
        self._stats: StreamStats | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="decoder", daemon=True)

    def _run(self) -> None:
        try:
            self._stats = decode(self._stored, self.pipe, self._identities, **self._kwargs)
            self.pipe.close()
        except PipeAbandoned:
            pass  # the consumer stopped first; its own error is the one to report
        except BaseException as exc:
            self.error = exc
            self.pipe.fail(exc)

    def __enter__(self) -> DecodeThread:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self.stop()
        self._thread.join()

    def stop(self) -> BaseException | None:
        """The consumer gave up: release the decoder, wait for it, and return its own error if any."""
        self.pipe.abandon()
        self._thread.join()
        return self.error

    def finish(self) -> StreamStats:
        """After the consumer read to the end: the decoder's statistics, or its error."""
        while self.pipe.read(CHUNK):  # e.g. tar's end-of-archive padding
            pass
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self._stats is not None
        return self._stats


def sha256_of_stream(stream: BinaryIO | Readable) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def ensure(condition: bool, message: str) -> None:
    if not condition:
        raise BackupError(message)
