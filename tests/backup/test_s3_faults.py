"""S3 errors on parts: transient ones are retried, persistent ones abort the upload and leave nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import AgeKey
from .s3_servers import S3_KEY_ID, S3_SECRET, FaultProxy, S3Server


@pytest.fixture
def big_files(tmp_path: Path) -> Path:
    """12 MiB of incompressible data: three 5 MiB parts."""
    root = tmp_path / "uploads"
    root.mkdir()
    for index in range(3):
        (root / f"blob-{index}.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    return root


def _env(proxy: FaultProxy, bucket: str, files: Path, age_key: AgeKey, attempts: int) -> dict[str, str]:
    return {
        "BACKUP_TARGET": f"s3://{bucket}/nightly",
        "BACKUP_S3_ENDPOINT_URL": proxy.url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "BACKUP_S3_MIN_PART_SIZE_MIB": "5",
        "BACKUP_S3_MAX_ATTEMPTS": str(attempts),
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_AGE_IDENTITY_FILE": str(age_key.path),
        "BACKUP_FILES_PATHS": str(files),
        "BACKUP_ZSTD_LEVEL": "1",
    }


def test_transient_part_errors_are_retried(
    fault_proxy: FaultProxy,
    s3_server: S3Server,
    s3_bucket: str,
    big_files: Path,
    age_key: AgeKey,
    run_cli: Any,
) -> None:
    fault_proxy.failed = 0
    fault_proxy.fail_upload_parts = 2
    env = _env(fault_proxy, s3_bucket, big_files, age_key, attempts=4)
    result = run_cli(["create", "files", "--json"], env)
    assert result.exit_code == 0, result.output
    assert fault_proxy.failed == 2
    verified = run_cli(["verify", "latest", "--full", "--json"], env)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)[0]["tar_members"] == 4


def test_persistent_part_errors_abort_and_leave_nothing(
    fault_proxy: FaultProxy,
    s3_server: S3Server,
    s3_bucket: str,
    big_files: Path,
    age_key: AgeKey,
    run_cli: Any,
) -> None:
    fault_proxy.failed = 0
    fault_proxy.fail_upload_parts = -1
    try:
        result = run_cli(["create", "files"], _env(fault_proxy, s3_bucket, big_files, age_key, attempts=2))
    finally:
        fault_proxy.fail_upload_parts = 0
    assert result.exit_code == 1
    assert "InternalError" in result.stderr and "stage" in result.stderr
    assert fault_proxy.failed >= 2
    client = s3_server.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []


def test_overlapping_runs_on_s3_are_refused_by_the_lock_object(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    from panel_backup.locking import storage_lock
    from panel_backup.settings import Settings
    from panel_backup.storage import S3Storage

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    settings = Settings(
        target=f"s3://{s3_bucket}/nightly",
        s3_endpoint_url=s3_server.url,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    env = {
        "BACKUP_TARGET": f"s3://{s3_bucket}/nightly",
        "BACKUP_S3_ENDPOINT_URL": s3_server.url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
    }
    with storage_lock(S3Storage(settings, s3_bucket, "nightly"), "files", ttl_seconds=600):
        held = run_cli(["create", "files"], env)
    assert held.exit_code == 4, held.output
    assert "holds the lock" in held.stderr
    free = run_cli(["create", "files"], env)
    assert free.exit_code == 0, free.output
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert not any(key.startswith("nightly/locks/") for key in keys)
