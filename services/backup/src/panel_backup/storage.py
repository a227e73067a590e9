"""Where backups live: a local directory (`file://`) or S3 / S3-compatible (`s3://bucket/prefix`).

Both backends make a stored object appear only when it is complete: the local one writes to a
hidden partial file and renames it; the S3 one hands the stream to boto3's transfer manager,
which completes a multipart upload only after the reader reached a clean end-of-stream and
aborts it when the reader raises or a part fails for good.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from service_settings import redact_url

from .errors import BackupError, ConfigError, NotFoundError
from .logs import get_logger
from .pipe import CHUNK, Readable
from .settings import Settings

log = get_logger("storage")
MIB = 1 << 20
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * 1024 * MIB
UPLOAD_CONCURRENCY = 2  # parts in flight at once; more buys little on the 2-core nodes we target
IN_MEMORY_PARTS = 2  # parts read ahead of the uploads (boto3's max_in_memory_upload_chunks)


@dataclass(frozen=True)
class Leftover:
    """What a run killed mid-upload leaves that no listing of objects shows: a hidden partial file
    (`file://`) or an unfinished multipart upload (S3, billed until aborted)."""

    kind: str  # "partial file" or "unfinished multipart upload"
    key: str  # relative to the target, like every storage key
    started: datetime
    upload_id: str | None = None


class Storage(Protocol):
    def describe(self) -> str: ...
    def put_stream(self, key: str, reader: Readable, expected_size: int | None) -> None: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_bytes_if_absent(self, key: str, data: bytes) -> bool: ...
    def get_bytes(self, key: str) -> bytes: ...
    def open_read(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def size(self, key: str) -> int | None: ...
    def list_keys(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def list_leftovers(self, prefix: str) -> Iterator[Leftover]: ...
    def remove_leftover(self, leftover: Leftover) -> None: ...


def part_size_for(expected_size: int | None, *, min_part_mib: int, max_parts: int) -> int:
    """The smallest part size (whole MiB, at least the minimum) that fits the expected size in max_parts.

    The estimate gets 25% headroom because compressed output can exceed the input for random data.
    """
    minimum = max(S3_MIN_PART, min_part_mib * MIB)
    if not expected_size:
        return minimum
    needed = math.ceil(expected_size * 1.25 / max_parts)
    return min(S3_MAX_PART, max(minimum, math.ceil(needed / MIB) * MIB))


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BackupError(f"refusing a storage key outside the target directory: {key}")
        return path

    def _make_parents(self, path: Path) -> None:
        """Create the missing folders down to `path`'s, each 0700 (intermediate ones too, which
        `mkdir(parents=True)` would leave at the umask's default)."""
        missing = []
        for parent in path.parents:
            if parent.exists():
                break
            missing.append(parent)
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another run made it meanwhile
                folder.mkdir(mode=0o700)

    def _remove_empty_parents(self, path: Path) -> None:
        """After a failure or a delete: remove the folders left empty, up to (not including) the root."""
        root = self.root.resolve()
        for parent in path.parents:
            if parent == root or not parent.is_relative_to(root):
                return
            try:
                parent.rmdir()
            except OSError:
                return  # not empty (or gone): stop here

    def _write(self, key: str, chunks: Iterator[bytes]) -> None:
        path = self._path(key)
        self._make_parents(path)
        partial = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
        try:
            # 0600 whatever the umask: backups, manifests (they name hosts and tables) and locks.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            self._remove_empty_parents(partial)
            raise

    def put_stream(self, key: str, reader: Readable, expected_size: int | None) -> None:
        def chunks() -> Iterator[bytes]:
            while chunk := reader.read(CHUNK):
                yield chunk

        self._write(key, chunks())

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, iter([data]))

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        self._make_parents(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{key} does not exist in {self.describe()}") from None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the context manager
        except FileNotFoundError:
            raise NotFoundError(f"{key} does not exist in {self.describe()}") from None
        with handle:
            yield handle

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith("."):
                    continue  # partial files of an upload in progress
                yield str((Path(dirpath) / name).relative_to(self.root))

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._remove_empty_parents(path)  # the backup's folder once its last object is gone

    def list_leftovers(self, prefix: str) -> Iterator[Leftover]:
        base = self.root / prefix
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".") and ".partial-" in name:
                    path = Path(dirpath) / name
                    with contextlib.suppress(FileNotFoundError):  # finished meanwhile
                        started = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                        yield Leftover("partial file", str(path.relative_to(self.root)), started)

    def remove_leftover(self, leftover: Leftover) -> None:
        self.delete(leftover.key)


class _UploadStopped(Exception):
    """Raised into the transfer manager's reading thread once the upload has already failed."""


class _PartReader:
    """What boto3's transfer manager reads: whole parts, a part-count limit, an early stop.

    boto3 treats a short read as a whole part (or, for the first one, as the end of a small
    object), so each read is filled up to the size asked for. More data than `max_parts` parts
    can hold raises a BackupError, which makes boto3 abort the upload. And once the transfer has
    failed (a part failed for good), reading stops instead of draining the whole source.
    """

    def __init__(self, reader: Readable, part_size: int, max_parts: int) -> None:
        self._reader = reader
        self._part_size = part_size
        self._max_parts = max_parts
        self._limit = part_size * max_parts
        self._future: Any = None
        self._eof = False
        self.bytes_read = 0

    def stop_when_done(self, future: Any) -> None:
        self._future = future

    def read(self, size: int = -1) -> bytes:
        if self._future is not None and self._future.done():
            raise _UploadStopped("the upload already failed")
        buffer = bytearray()
        while not self._eof and (size < 0 or len(buffer) < size):
            want = CHUNK if size < 0 else min(CHUNK, size - len(buffer))
            chunk = self._reader.read(want)
            if not chunk:
                self._eof = True
                break
            buffer += chunk
            self.bytes_read += len(chunk)
            if self.bytes_read > self._limit:
                raise BackupError(
                    f"the backup outgrew {self._max_parts} parts of {self._part_size // MIB} MiB; "
                    "raise BACKUP_S3_MIN_PART_SIZE_MIB (or BACKUP_S3_MAX_PARTS if the store allows more)"
                )
        return bytes(buffer)


class S3Storage:
    def __init__(
        self, settings: Settings, bucket: str, prefix: str, *, max_attempts: int | None = None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings
        path_style = settings.s3_path_style
        if path_style is None:
            path_style = bool(settings.s3_endpoint_url)
        config = Config(
            region_name=settings.s3_region,
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"mode": "standard", "max_attempts": max_attempts or settings.s3_max_attempts},
            request_checksum_calculation=settings.s3_checksum_calculation,
            response_checksum_validation=settings.s3_checksum_calculation,
            connect_timeout=10,
            read_timeout=120,
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            config=config,
        )

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        if self.settings.s3_endpoint_url:
            where += f" at {redact_url(self.settings.s3_endpoint_url)}"
        return where

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.settings.s3_sse:
            args["ServerSideEncryption"] = self.settings.s3_sse
        if self.settings.s3_sse == "aws:kms" and self.settings.s3_sse_kms_key_id:
            args["SSEKMSKeyId"] = self.settings.s3_sse_kms_key_id
        if self.settings.s3_storage_class:
            args["StorageClass"] = self.settings.s3_storage_class
        return args

    def put_stream(self, key: str, reader: Readable, expected_size: int | None) -> None:
        """Upload with boto3's transfer manager: one PUT below a part, else a multipart upload.

        The manager reads parts in its submission thread and uploads up to `UPLOAD_CONCURRENCY`
        of them at once; when the reader raises or a part fails for good, it aborts the multipart
        upload before the error reaches us, so nothing is left behind.
        """
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        part_size = part_size_for(
            expected_size,
            min_part_mib=self.settings.s3_min_part_size_mib,
            max_parts=self.settings.s3_max_parts,
        )
        config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=UPLOAD_CONCURRENCY,
            use_threads=True,
            preferred_transfer_client="classic",  # the CRT client has none of the guarantees below
        )
        # Bounds memory: parts read but not yet sent. boto3's default (10) would hold 10 parts.
        config.max_in_memory_upload_chunks = IN_MEMORY_PARTS
        full_key = self._key(key)
        source = _PartReader(reader, part_size, self.settings.s3_max_parts)
        log.info("upload started", extra={"key": full_key, "part_size": part_size})
        try:
            with create_transfer_manager(self.client, config) as manager:
                future = manager.upload(source, self.bucket, full_key, extra_args=self._put_args())
                source.stop_when_done(future)
                future.result()
        except BaseException as exc:
            log.warning(
                "upload failed; boto3 aborts any unfinished multipart upload",
                extra={"key": full_key, "bytes_read": source.bytes_read, "error": str(exc)},
            )
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._put_args())

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
            ):
                return False
            raise

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as body:
            return body.read()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError(f"{key} does not exist in {self.describe()}") from None
            raise
        body = response["Body"]
        try:
            yield body
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list_leftovers(self, prefix: str) -> Iterator[Leftover]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for upload in page.get("Uploads", []):
                yield Leftover(
                    "unfinished multipart upload",
                    upload["Key"][strip:],
                    upload["Initiated"],
                    upload["UploadId"],
                )

    def remove_leftover(self, leftover: Leftover) -> None:
        self.client.abort_multipart_upload(
            Bucket=self.bucket, Key=self._key(leftover.key), UploadId=leftover.upload_id
        )


def open_storage(settings: Settings, *, max_attempts: int | None = None) -> Storage:
    if not settings.target:
        raise ConfigError("BACKUP_TARGET is not set; set it to file:///path/to/dir or s3://bucket/prefix")
    if settings.target.startswith("file://"):
        raw = settings.target[len("file://") :]
        return LocalStorage(Path(raw).expanduser())
    bucket, _, prefix = settings.target[len("s3://") :].partition("/")
    return S3Storage(settings, bucket, prefix, max_attempts=max_attempts)
