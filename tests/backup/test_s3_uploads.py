"""S3Storage.put_stream against moto and versitygw: what boto3's transfer manager must keep guaranteeing."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from panel_backup.errors import BackupError
from panel_backup.pipe import BoundedPipe
from panel_backup.settings import Settings
from panel_backup.storage import MIB, S3Storage

from .s3_servers import S3_KEY_ID, S3_SECRET, FaultProxy, S3Server


class SourceDied(Exception):
    pass


class CountingSource:
    """A stream of `total` bytes (a repeating non-uniform pattern) that can fail after `fail_after` bytes."""

    def __init__(self, total: int, *, fail_after: int | None = None) -> None:
        self.total = total
        self.fail_after = fail_after
        self.bytes_read = 0
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.bytes_read >= self.fail_after:
            raise SourceDied("the source died mid-stream")
        size = min(64 * 1024 if size < 0 else size, self.total - self.bytes_read)
        data = bytes((self.bytes_read + i) * 7 % 251 for i in range(min(size, 251))) * (size // 251 + 1)
        data = data[:size]
        self.bytes_read += len(data)
        self.sha256.update(data)
        return data


def _storage(endpoint: str, bucket: str, **overrides: Any) -> S3Storage:
    settings = Settings(
        target=f"s3://{bucket}/nightly",
        s3_endpoint_url=endpoint,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
        s3_min_part_size_mib=5,
        **overrides,
    )
    return S3Storage(settings, bucket, "nightly")


def _assert_bucket_empty(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    assert client.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def _stored_sha256(s3_server: S3Server, bucket: str, key: str) -> str:
    body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"]
    return hashlib.sha256(body.read()).hexdigest()


def test_an_object_smaller_than_a_part_goes_in_one_put(s3_server: S3Server, s3_bucket: str) -> None:
    source = CountingSource(3 * MIB)
    _storage(s3_server.url, s3_bucket).put_stream("files/small.bin", source, None)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="nightly/files/small.bin")
    assert "-" not in head["ETag"]  # a multipart object's ETag ends in -<number of parts>
    assert _stored_sha256(s3_server, s3_bucket, "nightly/files/small.bin") == source.sha256.hexdigest()


def test_a_large_stream_goes_in_parts_of_the_computed_size_with_the_request_options(
    s3_server: S3Server, s3_bucket: str
) -> None:
    source = CountingSource(12 * MIB + 1)
    storage = _storage(s3_server.url, s3_bucket, s3_sse="AES256", s3_storage_class="STANDARD_IA")
    storage.put_stream("files/large.bin", source, None)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="nightly/files/large.bin")
    assert head["ETag"].strip('"').endswith("-3")  # 5 MiB parts, not boto3's default 8 MiB
    if s3_server.applies_sse:  # versitygw accepts the header and stores no encryption setting
        assert head["ServerSideEncryption"] == "AES256"
    if s3_server.applies_storage_class:  # versitygw accepts the header and stores STANDARD
        assert head["StorageClass"] == "STANDARD_IA"
    assert _stored_sha256(s3_server, s3_bucket, "nightly/files/large.bin") == source.sha256.hexdigest()


def test_a_stream_exactly_one_part_long_is_stored_whole(s3_server: S3Server, s3_bucket: str) -> None:
    source = CountingSource(5 * MIB)
    _storage(s3_server.url, s3_bucket).put_stream("files/edge.bin", source, None)
    assert _stored_sha256(s3_server, s3_bucket, "nightly/files/edge.bin") == source.sha256.hexdigest()


def test_a_source_failing_mid_stream_leaves_nothing(s3_server: S3Server, s3_bucket: str) -> None:
    source = CountingSource(30 * MIB, fail_after=11 * MIB)  # after two whole parts went out
    with pytest.raises(SourceDied, match="mid-stream"):
        _storage(s3_server.url, s3_bucket).put_stream("files/broken.bin", source, None)
    _assert_bucket_empty(s3_server, s3_bucket)


def test_a_stream_outgrowing_the_part_limit_fails_clearly_and_leaves_nothing(
    s3_server: S3Server, s3_bucket: str
) -> None:
    source = CountingSource(10 * MIB + 1)
    storage = _storage(s3_server.url, s3_bucket, s3_max_parts=2)
    with pytest.raises(BackupError, match="outgrew 2 parts of 5 MiB; raise BACKUP_S3_MIN_PART_SIZE_MIB"):
        storage.put_stream("files/too-big.bin", source, None)
    _assert_bucket_empty(s3_server, s3_bucket)


def test_exactly_the_part_limit_still_fits(s3_server: S3Server, s3_bucket: str) -> None:
    source = CountingSource(10 * MIB)
    _storage(s3_server.url, s3_bucket, s3_max_parts=2).put_stream("files/full.bin", source, None)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="nightly/files/full.bin")
    assert head["ETag"].strip('"').endswith("-2")


def test_a_persistent_part_failure_stops_reading_the_source(
    fault_proxy: FaultProxy, s3_server: S3Server, s3_bucket: str
) -> None:
    source = CountingSource(50 * MIB)
    storage = _storage(fault_proxy.url, s3_bucket, s3_max_attempts=1)
    fault_proxy.failed = 0
    fault_proxy.fail_upload_parts = -1
    try:
        with pytest.raises(ClientError, match="InternalError"):
            storage.put_stream("files/failing.bin", source, None)
    finally:
        fault_proxy.fail_upload_parts = 0
    assert fault_proxy.failed >= 1
    # Two parts in flight plus one read ahead: once the first failure is known, reading stops
    # instead of draining the rest of the source (a whole database dump) before reporting it.
    assert source.bytes_read <= 4 * 5 * MIB
    _assert_bucket_empty(s3_server, s3_bucket)


def test_short_reads_from_the_pipeline_still_make_whole_parts(s3_server: S3Server, s3_bucket: str) -> None:
    """The pipeline's pipe returns one queued chunk per read; boto3 would take each as a part (or
    as the end of a small object) unless the storage fills the reads up to the part size."""
    pipe = BoundedPipe(max_chunks=4)
    source = CountingSource(12 * MIB + 1)

    def produce() -> None:
        while chunk := source.read(64 * 1024):
            pipe.write(chunk)
        pipe.close()

    writer = threading.Thread(target=produce, daemon=True)
    writer.start()
    _storage(s3_server.url, s3_bucket).put_stream("files/piped.bin", pipe, None)
    writer.join()
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="nightly/files/piped.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert _stored_sha256(s3_server, s3_bucket, "nightly/files/piped.bin") == source.sha256.hexdigest()
