"""Benchmark: panel-backup against the raw tools, side by side in one run (not a test; no pass/fail).

Makes a database with `pgbench -i -s SCALE` on a throwaway PostgreSQL and a folder of incompressible
files (os.urandom, `--files-mb`, 320 by default), starts an S3 server (versitygw, or moto's with
`--s3 moto`), then measures, once with the machine as it is ("idle") and once with one core kept busy
by a CPU hog ("busy"):

  pg_dump -Fc -Z0 > /dev/null           vs  panel-backup create database -> file:// and -> S3
  panel-backup create files (the incompressible folder) -> S3: multipart upload, peak RSS
  pg_restore of the plain dump           vs  panel-backup restore
  panel-backup --help                       interpreter start-up, wall and CPU

Each round runs every step once, back to back, `--repeat` rounds; a step's figure is its median,
peak RSS the largest of any run, and a ratio the median over rounds of raw tool time / panel-backup
time measured in the same round (above 1: panel-backup is faster), so that a load that changes
between rounds moves both sides of a ratio. The load average is printed with each
condition: the figures only mean something on a machine that nothing else uses.

Run:  uv run --frozen python services/backup/benchmarks/bench_backup.py --scale 70   (about 1 GB)
      uv run --frozen python services/backup/benchmarks/bench_backup.py --scale 5 --files-mb 64 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from support.servers import PostgresServer, free_port, wait_for_port  # noqa: E402
from support.versitygw import VersityGateway  # noqa: E402

MB = 1_000_000
MIB = 1 << 20
KEY_ID, SECRET = "bench-key-id", "bench-secret-value"
MEMORY_BOUND_MIB = 128


# Peak RSS comes from wait4's ru_maxrss, which also counts the memory of the process that forked the
# command (its image until exec). This benchmark holds boto3 and psycopg2 (about 80 MiB), so commands
# are started by a small interpreter of their own, whose image is a tenth of that.
SPAWNER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    started = time.monotonic()
    p = subprocess.Popen(job["command"], env=job["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "seconds": time.monotonic() - started,
                      "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                      "stderr": err.decode(errors="replace")[-2000:]}), flush=True)
"""


class Spawner:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
        """(wall seconds, CPU seconds, peak RSS MiB) of one command; fails loudly on a non-zero exit."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"command": command, "env": env}) + "\n")
        self.process.stdin.flush()
        done = json.loads(self.process.stdout.readline())
        if done["code"] != 0:
            raise SystemExit(f"{command[0]} failed ({done['code']}):\n{done['stderr']}")
        return done["seconds"], done["cpu"], done["maxrss_kib"] / 1024

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait()


SPAWN: Spawner | None = None


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    assert SPAWN is not None
    return SPAWN.run(command, env)


Step = tuple[str, list[str], dict[str, str], Any]  # name, command, environment, prepare (or None)


def measure_interleaved(steps: list[Step], repeat: int) -> dict[str, Any]:
    """Each round runs every step once, in order; the machine's load changes between rounds, not
    between a tool and the panel-backup step it is compared with. Per step: median wall and CPU
    seconds, the largest peak RSS, and every round's wall seconds (for per-round ratios)."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, *_ in steps}
    for round_number in range(repeat):
        print(f"    round {round_number + 1}/{repeat}: " + ", ".join(name for name, *_ in steps), flush=True)
        for name, command, env, prepare in steps:
            if prepare:
                prepare()
            runs[name].append(run_once(command, env))
    return {
        name: {
            "seconds": statistics.median(r[0] for r in results),
            "cpu_seconds": statistics.median(r[1] for r in results),
            "peak_rss_mib": max(r[2] for r in results),
            "rounds": [round(r[0], 3) for r in results],
        }
        for name, results in runs.items()
    }


def round_ratio(raw: dict[str, Any], tool: dict[str, Any]) -> float:
    """The median over rounds of raw time / tool time, each pair measured back to back."""
    return statistics.median(a / b for a, b in zip(raw["rounds"], tool["rounds"], strict=True))


@contextmanager
def cpu_hog(enabled: bool) -> Iterator[None]:
    """One process spinning on one core, at normal priority, for the duration."""
    if not enabled:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


@contextmanager
def s3_server(kind: str) -> Iterator[str]:
    if kind == "versitygw":
        gateway = VersityGateway(access_key=KEY_ID, secret_key=SECRET).start()
        try:
            yield gateway.url
        finally:
            gateway.stop()
        return
    port = free_port()
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def make_files(root: Path, megabytes: int) -> int:
    root.mkdir()
    written = 0
    index = 0
    while written < megabytes * MB:
        size = min(50 * MB, megabytes * MB - written)
        (root / f"random-{index:03d}.bin").write_bytes(os.urandom(size))
        written += size
        index += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=70, help="pgbench scale factor (70 is about 1 GB)")
    parser.add_argument("--files-mb", type=int, default=320, help="incompressible files for the S3 upload")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step (the median is reported)")
    parser.add_argument("--s3", choices=["versitygw", "moto"], default="versitygw", help="S3 server")
    parser.add_argument("--conditions", default="idle,busy", help="idle, busy (one core kept busy) or both")
    parser.add_argument(
        "--zstd-level", type=int, default=None, help="BACKUP_ZSTD_LEVEL (default: the tool's)"
    )
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON")
    args = parser.parse_args()
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]

    global SPAWN
    SPAWN = Spawner()
    work = Path(tempfile.mkdtemp(prefix="panel-bench-"))
    server = PostgresServer().start()
    figures: dict[str, Any] = {"scale": args.scale, "s3": args.s3, "cores": os.cpu_count(), "conditions": {}}
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
        print(f"==> pgbench -i -s {args.scale}; {args.files_mb} MB of random files", flush=True)
        subprocess.run(
            [str(bin_dir / "pgbench"), "-i", "-q", "-s", str(args.scale)],
            env=pg_env,
            check=True,
            capture_output=True,
        )
        figures["database_bytes"] = int(
            subprocess.run(
                [str(bin_dir / "psql"), "-Atc", "SELECT pg_database_size(current_database())"],
                env=pg_env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        figures["files_bytes"] = make_files(work / "files", args.files_mb)

        key = work / "key.txt"
        panel_backup = str(Path(sys.executable).parent / "panel-backup")
        subprocess.run([panel_backup, "keygen", "--output", str(key)], check=True, capture_output=True)
        base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "AWS_"))},
            "DATABASE_URL": server.url(db),
            "BACKUP_AGE_IDENTITY_FILE": str(key),
            "BACKUP_PG_BIN_DIR": str(bin_dir),
            "BACKUP_PROGRESS_INTERVAL_SECONDS": "0",
            "BACKUP_FILES_PATHS": str(work / "files"),
        }
        if args.zstd_level:
            base_env["BACKUP_ZSTD_LEVEL"] = str(args.zstd_level)

        with s3_server(args.s3) as endpoint:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=KEY_ID,
                aws_secret_access_key=SECRET,
            )
            client.create_bucket(Bucket="bench")
            s3_env = {
                **base_env,
                "BACKUP_TARGET": "s3://bench/panel",
                "BACKUP_S3_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET,
            }
            store = work / "store"
            file_env = {**base_env, "BACKUP_TARGET": f"file://{store}"}

            run_once([str(bin_dir / "pg_dump"), "-Fc", "-Z0"], pg_env)  # warm the cache
            for condition in conditions:
                print(f"==> {condition}: load average {os.getloadavg()[0]:.2f}", flush=True)
                with cpu_hog(condition == "busy"):
                    figures["conditions"][condition] = run_condition(
                        args, bin_dir, pg_env, panel_backup, file_env, s3_env, store, work, server
                    )
                    figures["conditions"][condition]["load_average_after"] = round(os.getloadavg()[0], 2)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        SPAWN.close()

    report(figures)
    if args.json:
        print(json.dumps(figures, indent=2))


def run_condition(
    args: argparse.Namespace,
    bin_dir: Path,
    pg_env: dict[str, str],
    panel_backup: str,
    file_env: dict[str, str],
    s3_env: dict[str, str],
    store: Path,
    work: Path,
    server: PostgresServer,
) -> dict[str, Any]:
    result: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}

    def clear_store() -> None:
        shutil.rmtree(store, ignore_errors=True)

    steps: list[Step] = [
        ("pg_dump", [str(bin_dir / "pg_dump"), "-Fc", "-Z0"], pg_env, None),
        ("create_database_file", [panel_backup, "create", "database", "--no-prune"], file_env, clear_store),
        ("create_database_s3", [panel_backup, "create", "database", "--no-prune"], s3_env, None),
        ("create_files_s3", [panel_backup, "create", "files", "--no-prune"], s3_env, None),
        ("startup", [panel_backup, "--help"], file_env, None),
    ]
    result.update(measure_interleaved(steps, args.repeat))
    manifest = json.loads(next(store.rglob("manifest.json")).read_text())
    result["plain_bytes"], result["stored_bytes"] = manifest["plain_size"], manifest["stored_size"]
    result["tool_timings"] = manifest["timings"]

    print("    pg_restore / panel-backup restore", flush=True)
    plain_dump = work / "plain.dump"
    artifact = store / manifest["artifact_key"]
    key = file_env["BACKUP_AGE_IDENTITY_FILE"]
    subprocess.run(f"age -d -i {key} {artifact} | zstd -d -q -f -o {plain_dump}", shell=True, check=True)  # noqa: S602
    made: list[str] = []

    def fresh_target(command: list[str], index: int, create: bool) -> Any:
        def prepare() -> None:
            name = f"restore_{len(made)}_{time.monotonic_ns()}"
            if create:
                server.create_database(name)
            made.append(name)
            command[index] = command[index].split("=")[0] + "=" + name if "=" in command[index] else name

        return prepare

    raw_command = [str(bin_dir / "pg_restore"), "--no-owner", "--dbname=x", str(plain_dump)]
    tool_command = [panel_backup, "restore", "latest", "--component", "database", "--to", "x"]
    result.update(
        measure_interleaved(
            [
                ("pg_restore", raw_command, pg_env, fresh_target(raw_command, 2, True)),
                ("restore", tool_command, file_env, fresh_target(tool_command, 6, False)),
            ],
            args.repeat,
        )
    )
    plain_dump.unlink()
    for name in made:
        server.drop_database(name)
    return result


def report(f: dict[str, Any]) -> None:
    print()
    print(
        f"database {f['database_bytes'] / MB:.0f} MB (pgbench -s {f['scale']}); "
        f"{f['files_bytes'] / MB:.0f} MB of incompressible files; S3 server: {f['s3']}; {f['cores']} cores"
    )
    for condition, c in f["conditions"].items():
        plain = c["plain_bytes"]
        label = "one core kept busy by a CPU hog" if condition == "busy" else "nothing else started"
        print()
        print(
            f"[{condition}: {label}; load average {c['load_average_before']} before, "
            f"{c['load_average_after']} after]  dump {plain / MB:.0f} MB plain, "
            f"{c['stored_bytes'] / MB:.1f} MB stored"
        )
        print(f"{'step':<46} {'seconds':>8} {'CPU s':>7} {'throughput':>12} {'peak RSS':>9}")
        rows = [
            ("pg_dump -Fc -Z0 > /dev/null", "pg_dump", plain),
            ("panel-backup create database -> file://", "create_database_file", plain),
            (f"panel-backup create database -> S3 ({f['s3']})", "create_database_s3", plain),
            (
                f"panel-backup create files -> S3 ({f['files_bytes'] / MB:.0f} MB)",
                "create_files_s3",
                f["files_bytes"],
            ),
            ("pg_restore (plain dump file)", "pg_restore", plain),
            ("panel-backup restore", "restore", plain),
            ("panel-backup --help (start-up)", "startup", 0),
        ]
        for title, key, size in rows:
            step = c[key]
            rate = f"{size / MB / step['seconds']:7.1f} MB/s" if size else ""
            rss = f"{step['peak_rss_mib']:.0f} MiB" if key not in ("pg_dump", "pg_restore") else ""
            print(f"{title:<46} {step['seconds']:8.2f} {step['cpu_seconds']:7.2f} {rate:>12} {rss:>9}")
        c["ratios"] = {
            "file": round_ratio(c["pg_dump"], c["create_database_file"]),
            "s3": round_ratio(c["pg_dump"], c["create_database_s3"]),
            "restore": round_ratio(c["pg_restore"], c["restore"]),
        }
        print(
            f"ratios to pg_dump -Fc -Z0 (median over rounds, each measured back to back): "
            f"file:// {c['ratios']['file']:.2f}x, S3 {c['ratios']['s3']:.2f}x (goal >= 0.80x); "
            f"restore to pg_restore {c['ratios']['restore']:.2f}x"
        )
        peak = max(
            c[k]["peak_rss_mib"]
            for k in ("create_database_file", "create_database_s3", "create_files_s3", "restore")
        )
        print(f"peak RSS of panel-backup {peak:.0f} MiB (bound {MEMORY_BOUND_MIB} MiB)")


if __name__ == "__main__":
    main()
