"""Where backups live: a local directory (`file://`) or S3 / S3-compatible (`s3://bucket/prefix`).

Both backends make a stored object appear only when it is complete: the local one writes to a
hidden partial file and renames it; the S3 one completes a multipart upload only after the
reader reached a clean end-of-stream, and aborts it on any error.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .errors import BackupError, ConfigError, NotFoundError
from .logs import get_logger
from .pipeline import CHUNK, Readable
from .redact import redact_url
from .settings import Settings

log = get_logger("storage")
MIB = 1 << 20
S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * 1024 * MIB


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

    def _write(self, key: str, chunks: Iterator[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
        try:
            with open(partial, "xb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
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
        path.parent.mkdir(parents=True, exist_ok=True)
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
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds once the backup's folder is empty


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

    @staticmethod
    def _read_part(reader: Readable, size: int) -> bytearray:
        buffer = bytearray()
        while len(buffer) < size:
            chunk = reader.read(min(CHUNK, size - len(buffer)))
            if not chunk:
                break
            buffer += chunk
        return buffer

    def put_stream(self, key: str, reader: Readable, expected_size: int | None) -> None:
        part_size = part_size_for(
            expected_size,
            min_part_mib=self.settings.s3_min_part_size_mib,
            max_parts=self.settings.s3_max_parts,
        )
        full_key = self._key(key)
        first = self._read_part(reader, part_size)
        if len(first) < part_size:  # the whole object fits in one request
            self.client.put_object(Bucket=self.bucket, Key=full_key, Body=bytes(first), **self._put_args())
            return
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key, **self._put_args())[
            "UploadId"
        ]
        log.info("multipart upload started", extra={"key": full_key, "part_size": part_size})
        parts: list[dict[str, Any]] = []
        try:
            data = first
            while data:
                number = len(parts) + 1
                if number > self.settings.s3_max_parts:
                    raise BackupError(
                        f"the backup outgrew {self.settings.s3_max_parts} parts of {part_size // MIB} MiB; "
                        "raise BACKUP_S3_MIN_PART_SIZE_MIB"
                    )
                response = self.client.upload_part(
                    Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
                )
                part: dict[str, Any] = {"PartNumber": number, "ETag": response["ETag"]}
                for checksum in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256"):
                    if response.get(checksum):
                        part[checksum] = response[checksum]
                parts.append(part)
                data = self._read_part(reader, part_size)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
                log.warning("multipart upload aborted", extra={"key": full_key, "parts_sent": len(parts)})
            except Exception as exc:  # the original error matters more; log this one
                log.error("could not abort the multipart upload", extra={"key": full_key, "error": str(exc)})
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


def open_storage(settings: Settings, *, max_attempts: int | None = None) -> Storage:
    if not settings.target:
        raise ConfigError("BACKUP_TARGET is not set; set it to file:///path/to/dir or s3://bucket/prefix")
    if settings.target.startswith("file://"):
        raw = settings.target[len("file://") :]
        return LocalStorage(Path(raw).expanduser())
    bucket, _, prefix = settings.target[len("s3://") :].partition("/")
    return S3Storage(settings, bucket, prefix, max_attempts=max_attempts)
