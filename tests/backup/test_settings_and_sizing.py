"""The YAML settings file, S3 request options, and multipart sizing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from panel_backup.storage import MIB, S3_MAX_PART, part_size_for

from .conftest import AgeKey
from .s3_servers import S3_KEY_ID, S3_SECRET, S3Server


@given(
    st.integers(min_value=0, max_value=40 * 1024**4),
    st.sampled_from([1_000, 10_000]),
    st.integers(min_value=5, max_value=64),
)
def test_part_size_keeps_any_expected_size_within_the_part_limit(
    size: int, max_parts: int, min_mib: int
) -> None:
    part = part_size_for(size, min_part_mib=min_mib, max_parts=max_parts)
    assert part >= min_mib * MIB and part % MIB == 0 and part <= S3_MAX_PART
    if part < S3_MAX_PART:
        assert part * max_parts >= size * 1.25  # headroom for output larger than the estimate


def test_yaml_file_sets_per_type_retention_and_env_wins(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    config = tmp_path / "backup.yaml"
    config.write_text(
        f"target: file://{tmp_path / 'yaml-store'}\n"
        "zstd_level: 7\n"
        "retention:\n"
        "  files: {last: 1, daily: 0, weekly: 0, monthly: 0}\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    env = {
        "BACKUP_CONFIG_FILE": str(config),
        "BACKUP_ZSTD_LEVEL": "2",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
    }
    for _ in range(3):
        assert run_cli(["create", "files"], env).exit_code == 0
    listed = json.loads(run_cli(["list", "--json"], env).stdout)
    assert len(listed) == 1  # retention from YAML: keep the last one
    manifest = json.loads(next((tmp_path / "yaml-store").rglob("manifest.json")).read_text())
    assert manifest["compression"]["level"] == 2  # the environment wins over the file

    config.write_text("retention:\n  files: {last: 0, daily: 0, weekly: 0, monthly: 0}\nbogus_setting: 1\n")
    bad = run_cli(["list"], env)
    assert bad.exit_code == 2
    assert "keeps nothing" in bad.stderr and "bogus_setting" in bad.stderr


def test_s3_request_options_reach_the_server(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    env = {
        "BACKUP_TARGET": f"s3://{s3_bucket}",
        "BACKUP_S3_ENDPOINT_URL": s3_server.url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "BACKUP_S3_SSE": "AES256",
        "BACKUP_S3_STORAGE_CLASS": "STANDARD_IA",
        "BACKUP_S3_CHECKSUM_CALCULATION": "when_required",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_FILES_PATHS": str(tmp_path / "data"),
    }
    created = run_cli(["create", "files", "--json"], env)
    assert created.exit_code == 0, created.output
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=json.loads(created.stdout)["artifact_key"])
    if s3_server.applies_sse:  # versitygw accepts the header and stores no encryption setting
        assert head["ServerSideEncryption"] == "AES256"
    if s3_server.applies_storage_class:  # versitygw accepts the header and stores STANDARD
        assert head["StorageClass"] == "STANDARD_IA"


def test_the_version_literal_matches_the_package_metadata() -> None:
    """panel_backup.__version__ is a literal (importlib.metadata costs start-up time); keep it honest."""
    from importlib.metadata import version

    import panel_backup

    assert panel_backup.__version__ == version("panel-backup")


def test_large_buffers_go_back_to_the_kernel_on_glibc() -> None:
    """The S3 memory bound relies on a fixed mmap threshold (heap.py); on glibc it must take effect."""
    from panel_backup.heap import return_large_buffers_to_the_kernel

    assert return_large_buffers_to_the_kernel() is True
