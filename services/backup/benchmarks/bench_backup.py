"""Benchmark: panel-backup against the raw tools, side by side in one run (not a test; no pass/fail).

Makes a database with `pgbench -i -s SCALE` on a throwaway PostgreSQL, then measures:
  pg_dump -Fc -Z0 > /dev/null           vs  panel-backup create database  (file:// and moto S3)
  a plain boto3 multipart upload of the same stored bytes to the same S3 server (the server's own cost)
  pg_restore of the plain dump           vs  panel-backup restore
and prints MB/s (of the plain dump size), ratios and peak RSS of each panel-backup process.

Run:  uv run --frozen python services/backup/benchmarks/bench_backup.py --scale 70   (~1 GB)
      uv run --frozen python services/backup/benchmarks/bench_backup.py --scale 5    (a quick look)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from support.servers import PostgresServer, free_port, wait_for_port  # noqa: E402

MB = 1_000_000
MIB = 1 << 20


def timed(command: list[str], env: dict[str, str], stdout: Any = subprocess.DEVNULL) -> tuple[float, float]:
    """(seconds, peak RSS in MiB of the process tree's largest member) for one command."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(
            f"{command[0]} failed ({process.returncode}):\n{stderr.decode(errors='replace')[-2000:]}"
        )
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=70, help="pgbench scale factor (70 is about 1 GB)")
    parser.add_argument(
        "--zstd-level", type=int, default=None, help="BACKUP_ZSTD_LEVEL (default: the tool's)"
    )
    parser.add_argument("--skip-s3", action="store_true", help="Measure file:// only")
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="panel-bench-"))
    server = PostgresServer().start()
    moto: subprocess.Popen[bytes] | None = None
    try:
        bin_dir = server.bin_dir
        db = server.create_database("bench")
        pg_env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(server.port),
            "PGUSER": server.user,
            "PGPASSWORD": server.password,
            "PGDATABASE": db,
        }
        print(f"==> pgbench -i -s {args.scale}", flush=True)
        subprocess.run(
            [str(bin_dir / "pgbench"), "-i", "-q", "-s", str(args.scale)],
            env=pg_env,
            check=True,
            capture_output=True,
        )
        size = int(
            subprocess.run(
                [str(bin_dir / "psql"), "-Atc", "SELECT pg_database_size(current_database())"],
                env=pg_env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        print(f"    database size {size / MB:.0f} MB", flush=True)

        key = work / "key.txt"
        subprocess.run(["panel-backup", "keygen", "--output", str(key)], check=True, capture_output=True)
        backup_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "AWS_"))},
            "DATABASE_URL": server.url(db),
            "BACKUP_AGE_IDENTITY_FILE": str(key),
            "BACKUP_PG_BIN_DIR": str(bin_dir),
            "BACKUP_PROGRESS_INTERVAL_SECONDS": "0",
        }
        if args.zstd_level:
            backup_env["BACKUP_ZSTD_LEVEL"] = str(args.zstd_level)
        figures: dict[str, Any] = {"scale": args.scale, "database_bytes": size}

        print("==> pg_dump -Fc -Z0 > /dev/null", flush=True)
        seconds, _ = timed([str(bin_dir / "pg_dump"), "-Fc", "-Z0"], pg_env)
        figures["pg_dump_seconds"] = seconds

        print("==> panel-backup create database -> file://", flush=True)
        file_env = {**backup_env, "BACKUP_TARGET": f"file://{work / 'store'}"}
        seconds, rss = timed(["panel-backup", "create", "database", "--no-prune"], file_env)
        manifest = json.loads(next((work / "store").rglob("manifest.json")).read_text())
        plain, stored = manifest["plain_size"], manifest["stored_size"]
        figures.update(plain_bytes=plain, stored_bytes=stored, file_seconds=seconds, file_peak_rss_mib=rss)
        figures["file_tool_timings"] = manifest["timings"]
        artifact = work / "store" / manifest["artifact_key"]

        if not args.skip_s3:
            import boto3
            from boto3.s3.transfer import TransferConfig

            port = free_port()
            moto = subprocess.Popen(
                ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port(port)
            endpoint = f"http://127.0.0.1:{port}"
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench-secret",  # noqa: S106 - moto accepts anything
            )
            client.create_bucket(Bucket="bench")
            s3_env = {
                **backup_env,
                "BACKUP_TARGET": "s3://bench/panel",
                "BACKUP_S3_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
            }
            print("==> panel-backup create database -> S3 (moto)", flush=True)
            seconds, rss = timed(["panel-backup", "create", "database", "--no-prune"], s3_env)
            figures.update(s3_seconds=seconds, s3_peak_rss_mib=rss)
            print("==> plain boto3 multipart upload of the same stored bytes -> S3 (moto)", flush=True)
            started = time.monotonic()
            client.upload_file(
                str(artifact),
                "bench",
                "plain-upload",
                Config=TransferConfig(multipart_chunksize=16 * MIB, max_concurrency=2),
            )
            figures["s3_plain_upload_seconds"] = time.monotonic() - started

        print("==> pg_restore (plain dump) vs panel-backup restore", flush=True)
        plain_dump = work / "plain.dump"
        subprocess.run(f"age -d -i {key} {artifact} | zstd -d -q -o {plain_dump}", shell=True, check=True)  # noqa: S602
        server.create_database("restore_raw")
        seconds, _ = timed(
            [str(bin_dir / "pg_restore"), "--no-owner", "-d", "restore_raw", str(plain_dump)], pg_env
        )
        figures["pg_restore_seconds"] = seconds
        plain_dump.unlink()
        seconds, rss = timed(
            ["panel-backup", "restore", "latest", "--component", "database", "--to", "restore_tool"], file_env
        )
        figures.update(restore_seconds=seconds, restore_peak_rss_mib=rss)
    finally:
        if moto:
            moto.terminate()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(figures)
    if args.json:
        print(json.dumps(figures, indent=2))


def report(f: dict[str, Any]) -> None:
    plain = f["plain_bytes"]

    def rate(seconds: float) -> str:
        return f"{plain / MB / seconds:8.1f} MB/s"

    print()
    print(
        f"database {f['database_bytes'] / MB:.0f} MB (pgbench -s {f['scale']}); "
        f"dump {plain / MB:.0f} MB plain, {f['stored_bytes'] / MB:.1f} MB stored "
        f"({plain / max(f['stored_bytes'], 1):.1f}x)"
    )
    print(f"{'step':<44} {'seconds':>8} {'throughput':>13} {'peak RSS':>10}")
    rows = [
        ("pg_dump -Fc -Z0 > /dev/null", f["pg_dump_seconds"], None),
        ("panel-backup create database -> file://", f["file_seconds"], f["file_peak_rss_mib"]),
    ]
    if "s3_seconds" in f:
        rows += [
            ("panel-backup create database -> S3 (moto)", f["s3_seconds"], f["s3_peak_rss_mib"]),
            ("plain multipart upload of stored bytes (moto)", f["s3_plain_upload_seconds"], None),
        ]
    rows += [
        ("pg_restore (plain dump file)", f["pg_restore_seconds"], None),
        ("panel-backup restore", f["restore_seconds"], f["restore_peak_rss_mib"]),
    ]
    for name, seconds, rss in rows:
        print(f"{name:<44} {seconds:8.2f} {rate(seconds):>13} {f'{rss:.0f} MiB' if rss else '':>10}")
    file_ratio = f["pg_dump_seconds"] / f["file_seconds"]
    print()
    print(f"backup to file:// vs raw pg_dump: {file_ratio:.2f}x  (target >= 0.80x)")
    timings = f["file_tool_timings"]
    print(
        f"  inside the tool: snapshot + row counts {timings['snapshot_seconds']:.2f} s, "
        f"stream {timings['stream_seconds']:.2f} s ({plain / MB / timings['stream_seconds']:.1f} MB/s); "
        f"the rest is interpreter start-up"
    )
    if "s3_seconds" in f:
        print(
            f"backup to S3 vs raw pg_dump:      {f['pg_dump_seconds'] / f['s3_seconds']:.2f}x  "
            f"(of which the S3 server alone takes {f['s3_plain_upload_seconds']:.2f} s)"
        )
    print(f"restore vs pg_restore:            {f['pg_restore_seconds'] / f['restore_seconds']:.2f}x")
    peak = max(v for k, v in f.items() if k.endswith("peak_rss_mib"))
    print(f"peak RSS of panel-backup:         {peak:.0f} MiB  (target < 128 MiB)")


if __name__ == "__main__":
    main()
