"""The `panel-backup` command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from service_settings import scrub

from . import __version__, heap, interrupt, metrics
from .errors import BackupError, ConfigError, IntegrityError
from .interrupt import Interrupted
from .logs import configure_logging, get_logger
from .manifest import Manifest, find_manifest, load_manifests, newest, scan_manifests
from .notify import Report, deliver
from .prune import apply_plan, delete_orphans, find_leftovers, find_orphans, prune_plan, remove_leftovers
from .schedule import Scheduler, planned_jobs
from .settings import BACKUP_TYPES, BackupType, Settings, load_settings
from .stages import StageTracker, describe_error
from .storage import Leftover, Storage, open_storage

# The commands' own modules (create, restore, verify, drill, crypto) are imported by the command that
# needs them: pyrage, zstandard, psycopg2 and tarfile cost start-up time, which a busy node turns into
# seconds (see the benchmark), and `list` or `prune` need none of them.
if TYPE_CHECKING:
    from .retention import Decision

log = get_logger("cli")
T = TypeVar("T")

EXIT_CODES_HELP = """
\b
Exit codes:
  0  success
  1  the operation failed (source, storage or network); nothing half-done counts as a backup
  2  usage or configuration error (the message names the setting and the fix)
  3  integrity problem: a backup does not match its manifest, or a drill found differences
  4  another run of the same backup type holds the lock; this run did nothing
  5  no complete backup matches the request
"""

MAIN_HELP = f"""Streaming, encrypted, verified backups of the panel: its database, its files and its config.

\b
Each backup is  source -> zstd -> age encryption -> storage, streamed with bounded memory,
and counts only once its manifest is written, last. Everything reads complete manifests only.

\b
Quick start (local directory, SQLite):
  panel-backup keygen --output ./var/backup-key.txt      # keep this file safe and off the server
  export BACKUP_TARGET=file://./var/backups BACKUP_AGE_RECIPIENTS=age1...
  export DATABASE_URL=sqlite:///var/panel.db
  panel-backup create database && panel-backup list
  BACKUP_AGE_IDENTITY_FILE=./var/backup-key.txt panel-backup drill

Settings come from the environment (secrets also from <NAME>_FILE) and BACKUP_CONFIG_FILE (YAML);
see services/backup/README.md for the full list.
{EXIT_CODES_HELP}"""


def _fail(exc: BackupError) -> NoReturn:
    prefix = "error" if exc.exit_code != 4 else "locked"
    lines = str(exc).splitlines() or [type(exc).__name__]
    lines[-1] += _notes(exc)
    for line in lines:
        click.echo(f"{prefix}: {scrub(line)}", err=True)
    sys.exit(exc.exit_code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        configure_logging()
        _fail(exc)
    configure_logging(settings.log_level)
    return settings


def _stopped(signum: int, exc: BaseException) -> NoReturn:
    """One line for a run stopped by a signal, with what its cleanup did; exit 128 + the signal."""
    error = Interrupted(signum)
    for note in getattr(exc, "__notes__", []):
        error.add_note(note)
    log.info("stopped", extra={"signal": signum, "while": scrub(describe_error(exc))[:300]})
    click.echo(f"error: {error}; the run was stopped and cleaned up" + _notes(error), err=True)
    sys.exit(error.exit_code)


def _notes(exc: BaseException) -> str:
    notes = getattr(exc, "__notes__", [])  # what was cleaned up (or could not be) after the failure
    return f" ({'; '.join(scrub(n) for n in notes)})" if notes else ""


def _guard(action: Callable[[], T]) -> T:
    """Run an action; known failures exit with their code and one clear message, never a traceback.
    SIGTERM/SIGINT stop it cleanly (interrupt.py); whatever error the stop surfaces as, the exit
    status is 128 + the signal."""
    with interrupt.stop_on_signals():
        try:
            return action()
        except Interrupted as exc:
            _stopped(exc.signum, exc)
        except BackupError as exc:
            if (signum := interrupt.requested()) is not None:
                _stopped(signum, exc)
            _fail(exc)
        except Exception as exc:
            if (signum := interrupt.requested()) is not None:
                _stopped(signum, exc)
            if _operational(exc):  # storage, network, database: one line, no traceback
                _fail(BackupError(scrub(describe_error(exc))))
            log.error("unexpected error", exc_info=True)
            _fail(BackupError(f"unexpected error: {scrub(describe_error(exc))}"))


def _operational(exc: Exception) -> bool:
    """Failures of what the tool talks to (not of the tool): reported in one line, exit 1."""
    if isinstance(exc, OSError):
        return True
    return type(exc).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer", "urllib3", "psycopg2")


def _emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


def _last_good(
    settings: Settings, backup_type: BackupType | None, storage: Storage | None = None
) -> tuple[Manifest | None, str | None]:
    """The newest complete backup, asked once and quickly; a failure here never blocks a report."""
    try:
        storage = storage or open_storage(settings, max_attempts=1)
        return newest(load_manifests(storage, backup_type)), None
    except Exception as exc:
        return None, f"unknown (the storage could not be read: {scrub(describe_error(exc))[:200]})"


def _report(
    settings: Settings,
    command: str,
    backup_type: BackupType | None,
    storage: Storage | None = None,
    **fields: Any,
) -> None:
    if not (settings.webhook_url or (settings.smtp_host and (settings.email_on_success or not fields["ok"]))):
        return  # nobody to tell: skip the storage lookup
    last, note = _last_good(settings, backup_type, storage)
    report = Report(
        command=command,
        last_good_id=last.id if last else None,
        last_good_age_hours=round(last.age_seconds() / 3600, 2) if last else None,
        last_good_note=note,
        **fields,
    )
    deliver(settings, report)


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def _manifest_summary(manifest: Manifest) -> dict[str, Any]:
    return {
        "id": manifest.id,
        "type": manifest.type,
        "completed_at": manifest.completed_at.isoformat(),
        "age_hours": round(manifest.age_seconds() / 3600, 2),
        "plain_size": manifest.plain_size,
        "stored_size": manifest.stored_size,
        "artifact_key": manifest.artifact_key,
        "encryption": manifest.encryption.model_dump(),
        "source": {k: v for k, v in manifest.source.items() if k not in ("row_counts", "table_fingerprints")},
        "timings": manifest.timings,
    }


@click.group(
    help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, prog_name="panel-backup")
def main() -> None:
    heap.return_large_buffers_to_the_kernel()  # the S3 memory bound depends on it (heap.py)


@dataclass
class PruneResult:
    decisions: list[Decision]
    warnings: list[str]  # backups dated in the future
    orphans: list[tuple[str, datetime, list[str]]]  # data without a manifest
    leftovers: list[Leftover]  # partial files, unfinished multipart uploads


def _do_prune(
    settings: Settings,
    storage: Storage,
    backup_type: BackupType,
    dry_run: bool,
    protect: Collection[str] = (),
) -> PruneResult:
    decisions, warnings = prune_plan(settings, storage, backup_type, protect=protect)
    orphans = find_orphans(storage, backup_type, {d.id for d in decisions}, settings.orphan_min_age_hours)
    leftovers = find_leftovers(storage, backup_type, settings.orphan_min_age_hours)
    if not dry_run:
        apply_plan(storage, backup_type, decisions)
        delete_orphans(storage, orphans)
        remove_leftovers(storage, leftovers)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return PruneResult(decisions, warnings, orphans, leftovers)


def run_create(
    settings: Settings, backup_type: BackupType, *, prune: bool = True, as_json: bool = False
) -> int:
    from .create import create_backup

    tracker = StageTracker()
    started = time.monotonic()
    command = f"create {backup_type}"
    try:
        storage = open_storage(settings)
        manifest = create_backup(settings, storage, backup_type, tracker)
    except (BackupError, Interrupted) as exc:
        duration = time.monotonic() - started
        stopped = isinstance(exc, Interrupted) or interrupt.requested() is not None
        stage = "interrupted" if stopped else (getattr(exc, "stage", None) or "config")
        message = (
            f"{Interrupted(interrupt.requested() or 15)} during {tracker.current}" if stopped else str(exc)
        )
        log.error("backup failed", extra={"type": backup_type, "stage": stage, "error": scrub(message)})
        with interrupt.shielded():
            metrics.record(settings, backup_type, ok=False, duration=duration)
            _report(
                settings,
                command,
                backup_type,
                ok=False,
                stage=stage,
                message=message,
                duration_seconds=duration,
            )
        raise
    duration = time.monotonic() - started
    metrics.record(
        settings,
        backup_type,
        ok=True,
        duration=duration,
        plain_bytes=manifest.plain_size,
        stored_bytes=manifest.stored_size,
    )
    deleted: list[str] = []
    if prune:
        try:
            with tracker.stage("prune"):
                pruned = _do_prune(settings, storage, backup_type, dry_run=False, protect={manifest.id})
            deleted = [d.id for d in pruned.decisions if not d.keep]
        except BackupError as exc:
            _report(
                settings,
                command,
                backup_type,
                ok=False,
                stage="prune",
                message=str(exc),
                backup_id=manifest.id,
            )
            raise
    _report(
        settings,
        command,
        backup_type,
        storage,
        ok=True,
        stage=None,
        message=f"backup {manifest.id} stored ({manifest.stored_size} bytes)",
        backup_id=manifest.id,
        duration_seconds=duration,
    )
    summary = {**_manifest_summary(manifest), "pruned": deleted}
    _emit(
        as_json,
        summary,
        lambda: click.echo(
            f"created {manifest.id}: {_human_size(manifest.plain_size)} -> "
            f"{_human_size(manifest.stored_size)} "
            f"stored in {duration:.1f} s" + (f"; pruned {len(deleted)}" if deleted else "")
        ),
    )
    return 0


@main.command(
    help=f"""Take a backup now: `database` (DATABASE_URL: PostgreSQL via pg_dump, or SQLite),
`files` (BACKUP_FILES_PATHS) or `config` (BACKUP_CONFIG_DIR plus the panel's non-secret settings).

\b
Afterwards the retention policy is applied to that type (skip with --no-prune). On failure,
nothing is left that looks like a backup, and a report goes to BACKUP_EMAIL_TO / BACKUP_WEBHOOK_URL.
{EXIT_CODES_HELP}"""
)
@click.argument("backup_type", metavar="database|files|config", type=click.Choice(BACKUP_TYPES))
@click.option("--no-prune", is_flag=True, help="Do not apply the retention policy after this backup.")
@click.option("--json", "as_json", is_flag=True, help="Print the new backup's summary as JSON.")
def create(backup_type: BackupType, no_prune: bool, as_json: bool) -> None:
    settings = _settings()
    _guard(lambda: run_create(settings, backup_type, prune=not no_prune, as_json=as_json))


@main.command(name="list", help="List complete backups (those with a manifest), oldest first.")
@click.option("--type", "backup_type", type=click.Choice(BACKUP_TYPES), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests' summaries as JSON.")
def list_command(backup_type: BackupType | None, as_json: bool) -> None:
    settings = _settings()
    manifests, unreadable = _guard(lambda: scan_manifests(open_storage(settings), backup_type))
    for problem in unreadable:
        click.echo(f"warning: {problem.describe()}; `panel-backup verify` fails until it is fixed", err=True)

    def human() -> None:
        if not manifests:
            click.echo("no complete backups")
            return
        click.echo(f"{'ID':<40} {'TYPE':<9} {'COMPLETED (UTC)':<20} {'PLAIN':>10} {'STORED':>10}")
        for m in manifests:
            click.echo(
                f"{m.id:<40} {m.type:<9} {m.completed_at.strftime('%Y-%m-%d %H:%M:%S'):<20} "
                f"{_human_size(m.plain_size):>10} {_human_size(m.stored_size):>10}"
            )

    _emit(as_json, [_manifest_summary(m) for m in manifests], human)


@main.command(
    help=f"""Check that backups match their manifests.

\b
REF is a backup id or `latest` (the default: the newest backup of each type, or of --type).
Without --full: the object exists with the manifest's size and SHA-256.
With --full: the manifest's seal is checked, the object is decrypted (needs BACKUP_AGE_IDENTITY_FILE)
and decompressed end to end (zstd checks its content checksum), a database dump must pass
`pg_restore --list`, and an archive every check restore applies to its members.
{EXIT_CODES_HELP}"""
)
@click.argument("ref", default="latest")
@click.option("--type", "backup_type", type=click.Choice(BACKUP_TYPES), help="With `latest`: only this type.")
@click.option("--full", is_flag=True, help="Decrypt and decompress end to end as well.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def verify(ref: str, backup_type: BackupType | None, full: bool, as_json: bool) -> None:
    settings = _settings()

    def run() -> list[dict[str, Any]]:
        from .verify import verify_backup

        storage = open_storage(settings)
        # An unreadable manifest may be the newest backup's: verifying an older one instead and
        # saying "ok" would hide it, so every unreadable manifest of the types checked fails verify.
        results: list[dict[str, Any]] = []
        if ref == "latest":
            results = [
                {
                    "id": problem.id,
                    "type": problem.key.split("/")[0],
                    "ok": False,
                    "error": problem.describe(),
                }
                for problem in scan_manifests(storage, backup_type)[1]
            ]
        if ref == "latest" and backup_type is None:
            manifests = [m for kind in BACKUP_TYPES if (m := _latest_or_none(storage, kind))]
            if not manifests and not results:
                find_manifest(storage, "latest")  # raises the clear "no complete backup" error
        else:
            manifests = [find_manifest(storage, ref, backup_type)]
        for manifest in manifests:
            try:
                results.append({**verify_backup(settings, storage, manifest, full=full), "ok": True})
            except IntegrityError as exc:
                results.append({"id": manifest.id, "type": manifest.type, "ok": False, "error": str(exc)})
        return results

    results = _guard(run)

    def human() -> None:
        for r in results:
            error = "" if r["ok"] else ": " + str(r["error"]).removeprefix(f"{r['id']}: ")
            click.echo(f"{'ok' if r['ok'] else 'FAILED':<7} {r['id']}{error}")

    _emit(as_json, results, human)
    if not all(r["ok"] for r in results):
        sys.exit(IntegrityError.exit_code)


def _latest_or_none(storage: Storage, kind: BackupType) -> Manifest | None:
    return newest(load_manifests(storage, kind))


@main.command(
    name="restore",
    help=f"""Stream a backup back. Needs BACKUP_AGE_IDENTITY_FILE (or the passphrase in passphrase mode).

\b
REF is a backup id or `latest` (of --component).
  --component database --to NAME     a database name on DATABASE_URL's server (created if missing;
                                      credentials stay off the command line) or a postgresql:// URL;
                                      for a SQLite backup, a file path
  --component files|config --to DIR  a folder; entries that would land outside it are refused
A non-empty target is refused unless --force (a database is then cleaned object by object).
{EXIT_CODES_HELP}""",
)
@click.argument("ref")
@click.option("--component", type=click.Choice(BACKUP_TYPES), required=True, help="Which kind of backup.")
@click.option("--to", "to", required=True, help="Where to restore (see above).")
@click.option("--force", is_flag=True, help="Allow writing into a non-empty target.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def restore_command(ref: str, component: BackupType, to: str, force: bool, as_json: bool) -> None:
    settings = _settings()

    def run() -> dict[str, Any]:
        from .restore import restore

        storage = open_storage(settings)
        manifest = find_manifest(storage, ref, component)
        stats = restore(settings, storage, manifest, to, force=force)
        return {
            "id": manifest.id,
            "type": manifest.type,
            "to": scrub(to),
            "plain_size": stats.plain_size,
            "seconds": round(stats.seconds, 3),
        }

    result = _guard(run)
    _emit(
        as_json,
        result,
        lambda: click.echo(f"restored {result['id']} to {result['to']} in {result['seconds']} s"),
    )


@main.command(
    help=f"""Apply the retention policy: keep the last N, and the newest backup of each of the last
D days, W ISO weeks and M months (UTC), per type. The newest complete backup is never deleted,
and a policy that keeps nothing is refused. Decisions use complete manifests only.

\b
Policy: BACKUP_KEEP_LAST/DAILY/WEEKLY/MONTHLY (defaults 7/7/4/6), or per type in the YAML file:
  retention: {{database: {{last: 7, daily: 14, weekly: 8, monthly: 12}}}}
--dry-run prints every backup with the rule that keeps it or the reason it goes, and deletes nothing.
{EXIT_CODES_HELP}"""
)
@click.option("--type", "backup_type", type=click.Choice(BACKUP_TYPES), help="Only this type (default: all).")
@click.option("--dry-run", is_flag=True, help="Show the plan; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def prune(backup_type: BackupType | None, dry_run: bool, as_json: bool) -> None:
    settings = _settings()

    def run() -> list[dict[str, Any]]:
        storage = open_storage(settings)
        rows: list[dict[str, Any]] = []
        for kind in [backup_type] if backup_type else list(BACKUP_TYPES):
            policy = settings.policy_for(kind)  # validated: never keeps nothing
            pruned = _do_prune(settings, storage, kind, dry_run)
            for d in pruned.decisions:
                rows.append(
                    {
                        "id": d.id,
                        "type": kind,
                        "completed_at": d.completed_at.isoformat(),
                        "action": "keep" if d.keep else ("would delete" if dry_run else "deleted"),
                        "reason": d.describe(),
                        "policy": policy.model_dump(),
                    }
                )
            for backup_id, started, _keys in pruned.orphans:
                rows.append(
                    {
                        "id": backup_id,
                        "type": kind,
                        "completed_at": None,
                        "action": "would delete" if dry_run else "deleted",
                        "reason": f"incomplete: no manifest, started {started.isoformat()}",
                        "policy": policy.model_dump(),
                    }
                )
            for leftover in pruned.leftovers:
                rows.append(
                    {
                        "id": leftover.key.split("/")[1] if leftover.key.count("/") >= 2 else leftover.key,
                        "type": kind,
                        "completed_at": None,
                        "action": "would delete" if dry_run else "deleted",
                        "reason": f"{leftover.kind} of a stopped run: {leftover.key}, "
                        f"started {leftover.started.isoformat()}",
                        "policy": policy.model_dump(),
                    }
                )
        return rows

    rows = _guard(run)

    def human() -> None:
        for r in rows:
            click.echo(f"{r['action']:<13} {r['id']:<40} {r['reason']}")
        if not rows:
            click.echo("no complete backups")

    _emit(as_json, rows, human)


@main.command(
    help=f"""Restore the newest database backup into a scratch database, compare per-table row counts
with those recorded in the backup's snapshot, drop the scratch database, and report the duration
as a measured recovery-time (RTO) estimate. PostgreSQL: the DATABASE_URL role needs CREATEDB.
Needs BACKUP_AGE_IDENTITY_FILE.

\b
--deep also compares a content fingerprint per table (an order-independent hash of every row),
recorded in the same snapshot by backups made with BACKUP_TABLE_FINGERPRINTS=true: it catches
rows that changed, not only rows that went missing. `schedule` drills deeply when that is set.
{EXIT_CODES_HELP}"""
)
@click.option(
    "--deep",
    is_flag=True,
    help="Also compare per-table content fingerprints (backups made with BACKUP_TABLE_FINGERPRINTS=true).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def drill(deep: bool, as_json: bool) -> None:
    settings = _settings()
    _guard(lambda: run_drill_command(settings, deep=deep, as_json=as_json))


def run_drill_command(settings: Settings, *, deep: bool = False, as_json: bool = False) -> int:
    from .drill import run_drill

    started = time.monotonic()
    try:
        result = run_drill(settings, open_storage(settings), deep=deep)
    except (BackupError, Interrupted) as exc:
        stopped = isinstance(exc, Interrupted) or interrupt.requested() is not None
        stage = "interrupted" if stopped else (getattr(exc, "stage", None) or "drill")
        with interrupt.shielded():
            metrics.record(settings, "drill", ok=False, duration=time.monotonic() - started)
            _report(settings, "drill", "database", ok=False, stage=stage, message=str(exc) + _notes(exc))
        raise
    metrics.record(settings, "drill", ok=True, duration=result["rto_estimate_seconds"])
    _emit(
        as_json,
        result,
        lambda: click.echo(
            f"drill ok: {result['backup_id']} restored and matched ({result['tables']} tables, "
            f"{result['rows']} rows"
            + (f", {result['fingerprints_compared']} content fingerprints" if deep else "")
            + f") in {result['rto_estimate_seconds']} s"
        ),
    )
    return 0


@main.command(
    help="""Generate an age key pair for backups.

\b
The public key (age1...) goes into BACKUP_AGE_RECIPIENTS on the machines that take backups;
the identity file (AGE-SECRET-KEY-1...) is needed only to restore, verify --full and drill:
keep it off the backup pods, in a password manager or an offline place.
With --output the identity is written to a new file (mode 0600) and only the public key is printed.
The file works with stock `age -d -i FILE`."""
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the identity here."
)
@click.option("--force", is_flag=True, help="Replace an existing file (its key is then lost).")
@click.option("--if-missing", is_flag=True, help="If the file exists, keep it and print its public key.")
def keygen(output: Path | None, force: bool, if_missing: bool) -> None:
    from .crypto import generate_key_file, public_key_of

    configure_logging()
    if output is None:
        import pyrage

        identity = pyrage.x25519.Identity.generate()
        click.echo(f"# public key: {identity.to_public()}\n{identity}")
        return
    if if_missing and output.exists():
        click.echo(_guard(lambda: public_key_of(output)))
        return
    public = _guard(lambda: generate_key_file(output, overwrite=force))
    click.echo(public)
    click.echo(f"identity written to {output}; set BACKUP_AGE_RECIPIENTS={public}", err=True)


@main.command(
    help=f"""Run backups on cron schedules (UTC), for hosts without Kubernetes. Schedules only what
is configured: the database (DATABASE_URL), files (BACKUP_FILES_PATHS) and config (BACKUP_CONFIG_DIR),
plus a weekly drill when an identity is available.

\b
  BACKUP_SCHEDULE_DATABASE  default '0 2 * * *'     BACKUP_SCHEDULE_FILES   default '30 2 * * *'
  BACKUP_SCHEDULE_CONFIG    default '45 2 * * *'    BACKUP_SCHEDULE_DRILL   default '0 4 * * 0'
Set one to `off` to disable it. Each run also prunes its type. SIGTERM/SIGINT between runs stop the
scheduler (exit 0); during a run they stop and clean up that run first (exit 128 + the signal).
{EXIT_CODES_HELP}"""
)
@click.option("--run-now", is_flag=True, help="Run every scheduled job once at start.")
@click.option("--once", is_flag=True, help="With --run-now: exit after that first round (status: the worst).")
def schedule(run_now: bool, once: bool) -> None:
    settings = _settings()
    if once and not run_now:
        _fail(ConfigError("--once only makes sense with --run-now"))
    from .crypto import encryption_plan

    def job(action: Callable[[], int]) -> Callable[[], int]:
        def run() -> int:
            try:
                return action()
            except BackupError as exc:
                if (signum := interrupt.requested()) is not None:
                    raise Interrupted(signum) from exc  # a stop request ends the scheduler too
                log.error("job failed", extra={"error": scrub(str(exc)), "exit_code": exc.exit_code})
                return exc.exit_code

        return run

    runners: dict[str, Callable[[], int]] = {
        "create database": job(lambda: run_create(settings, "database")),
        "create files": job(lambda: run_create(settings, "files")),
        "create config": job(lambda: run_create(settings, "config")),
        "drill": job(lambda: run_drill_command(settings, deep=settings.table_fingerprints)),
    }
    if not (settings.age_identity_file or settings.age_passphrase):
        settings.schedule_drill = "off"  # a drill needs the identity; hosts with only public keys skip it
    _guard(
        lambda: encryption_plan(settings)
    )  # fail at start, not at 2 a.m.: backups are never stored in clear
    jobs = _guard(lambda: planned_jobs(settings, runners))
    scheduler = Scheduler(jobs)
    with interrupt.stop_on_signals():
        try:
            if run_now:
                status = scheduler.run_all_now()
                if once:
                    sys.exit(status)
            scheduler.run_forever()
        except Interrupted as exc:
            if scheduler.running is None:  # between runs: nothing to clean up
                log.info("scheduler stopped", extra={"signal": exc.signum})
                sys.exit(0)
            _stopped(exc.signum, exc)


def _now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":  # pragma: no cover
    main()
