"""S3 errors on parts: transient ones are retried, persistent ones abort the upload and leave nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import S3_KEY_ID, S3_SECRET, AgeKey, FaultProxy, MotoServer


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
    moto_server: MotoServer,
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
    moto_server: MotoServer,
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
    client = moto_server.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
