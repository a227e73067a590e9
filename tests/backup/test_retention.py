"""Retention properties over random backup histories and policies, plus dry-run == real on storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panel_backup.retention import Candidate, plan
from panel_backup.settings import RetentionPolicy

from .conftest import AgeKey

START = datetime(2025, 1, 1, tzinfo=UTC)

histories = st.lists(
    st.integers(min_value=0, max_value=400 * 24 * 60),  # minutes after START: ~13 months
    min_size=1,
    max_size=60,
    unique=True,
).map(lambda minutes: [Candidate(f"b{i:03d}", START + timedelta(minutes=m)) for i, m in enumerate(minutes)])


def _policy(last: int, daily: int, weekly: int, monthly: int) -> RetentionPolicy | None:
    try:
        return RetentionPolicy(last=last, daily=daily, weekly=weekly, monthly=monthly)
    except ValueError:
        return None


policies = st.builds(
    _policy, st.integers(0, 5), st.integers(0, 10), st.integers(0, 6), st.integers(0, 14)
).filter(lambda p: p is not None)


@given(histories, policies)
def test_the_newest_backup_is_never_deleted(history: list[Candidate], policy: RetentionPolicy) -> None:
    decisions = plan(history, policy)
    newest = max(history, key=lambda c: (c.completed_at, c.id))
    assert next(d for d in decisions if d.id == newest.id).keep


@given(histories, policies)
def test_every_backup_gets_exactly_one_decision_with_a_reason(
    history: list[Candidate], policy: RetentionPolicy
) -> None:
    decisions = plan(history, policy)
    assert sorted(d.id for d in decisions) == sorted(c.id for c in history)
    for decision in decisions:
        assert decision.keep == bool(decision.reasons)


@given(histories, policies)
def test_keep_last_n_keeps_the_n_newest(history: list[Candidate], policy: RetentionPolicy) -> None:
    decisions = plan(history, policy)  # newest first
    assert all(d.keep for d in decisions[: policy.last])
    kept_days = {d.completed_at.date() for d in decisions if d.keep}
    all_days = sorted({c.completed_at.date() for c in history}, reverse=True)
    assert set(all_days[: policy.daily]) <= kept_days


@given(histories, policies)
def test_plan_does_not_depend_on_input_order(history: list[Candidate], policy: RetentionPolicy) -> None:
    forward = {d.id: d.keep for d in plan(history, policy)}
    backward = {d.id: d.keep for d in plan(list(reversed(history)), policy)}
    assert forward == backward


def test_a_policy_that_keeps_nothing_is_refused(tmp_path: Path, age_key: AgeKey, run_cli: Any) -> None:
    env = {
        "BACKUP_TARGET": f"file://{tmp_path}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_KEEP_LAST": "0",
        "BACKUP_KEEP_DAILY": "0",
        "BACKUP_KEEP_WEEKLY": "0",
        "BACKUP_KEEP_MONTHLY": "0",
    }
    result = run_cli(["prune"], env)
    assert result.exit_code == 2
    assert "keeps nothing" in result.stderr


def _write_history(store: Path, times: list[datetime]) -> list[str]:
    """Complete manifests (and data objects) as `create` writes them, with chosen completion times."""
    from panel_backup.manifest import Compression, Encryption, Manifest, write_manifest
    from panel_backup.storage import LocalStorage

    storage = LocalStorage(store)
    ids = []
    for index, moment in enumerate(times):
        backup_id = f"{moment.strftime('%Y%m%dT%H%M%SZ')}-config-{index:06x}"
        key = f"config/{backup_id}/config.tar.zst.age"
        storage.put_bytes(key, b"data")
        write_manifest(
            storage,
            Manifest(
                id=backup_id,
                type="config",
                artifact_key=key,
                artifact_format="tar",
                tool_version="test",
                started_at=moment,
                completed_at=moment,
                plain_size=4,
                plain_sha256="0" * 64,
                stored_size=4,
                stored_sha256="0" * 64,
                compression=Compression(level=3),
                encryption=Encryption(mode="x25519", recipient_fingerprints=[]),
            ),
        )
        ids.append(backup_id)
    return ids


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.integers(0, 120 * 24), min_size=1, max_size=25, unique=True),
    policies,
)
def test_dry_run_equals_the_real_plan(
    tmp_path_factory: Any, age_key: AgeKey, run_cli: Any, hours: list[int], policy: RetentionPolicy
) -> None:
    store = tmp_path_factory.mktemp("prune")
    ids = _write_history(store, [START + timedelta(hours=h) for h in hours])
    # An incomplete backup (no manifest) and a newer one are invisible to the plan, never deleted.
    (store / "config" / "99991231T000000Z-config-ffffff").mkdir(parents=True)
    (store / "config" / "99991231T000000Z-config-ffffff" / "config.tar.zst.age").write_bytes(b"partial")
    env = {
        "BACKUP_TARGET": f"file://{store}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_KEEP_LAST": str(policy.last),
        "BACKUP_KEEP_DAILY": str(policy.daily),
        "BACKUP_KEEP_WEEKLY": str(policy.weekly),
        "BACKUP_KEEP_MONTHLY": str(policy.monthly),
    }
    dry = json.loads(run_cli(["prune", "--type", "config", "--dry-run", "--json"], env).stdout)
    would_delete = {row["id"] for row in dry if row["action"] == "would delete"}
    assert {row["id"] for row in dry} == set(ids)
    real = json.loads(run_cli(["prune", "--type", "config", "--json"], env).stdout)
    assert {row["id"] for row in real if row["action"] == "deleted"} == would_delete
    remaining = {p.parent.name for p in store.rglob("manifest.json")}
    assert remaining == set(ids) - would_delete
    assert max(ids) in remaining
    assert all(not (store / "config" / i).exists() for i in would_delete)
    assert (store / "config" / "99991231T000000Z-config-ffffff" / "config.tar.zst.age").exists()


def test_prune_removes_old_incomplete_backups_but_not_recent_ones(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    ids = _write_history(tmp_path, [START])
    old = tmp_path / "config" / "20200101T000000Z-config-0000aa"
    recent = tmp_path / "config" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-config-0000bb"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "config.tar.zst.age").write_bytes(b"unfinished")
    env = {"BACKUP_TARGET": f"file://{tmp_path}", "BACKUP_AGE_RECIPIENTS": age_key.public}
    dry = json.loads(run_cli(["prune", "--dry-run", "--json"], env).stdout)
    assert {(r["id"], r["action"]) for r in dry} == {(ids[0], "keep"), (old.name, "would delete")}
    assert old.exists()
    assert run_cli(["prune"], env).exit_code == 0
    assert not old.exists() and recent.exists()
    assert json.loads(run_cli(["list", "--json"], env).stdout)[0]["id"] == ids[0]


@given(histories, policies, st.data())
def test_protected_backups_are_always_kept(
    history: list[Candidate], policy: RetentionPolicy, data: Any
) -> None:
    protected = data.draw(st.sets(st.sampled_from([c.id for c in history]), max_size=3))
    decisions = plan(history, policy, protect=protected)
    assert all(d.keep and "just created" in d.reasons for d in decisions if d.id in protected)


def test_create_with_the_clock_behind_keeps_the_new_backup_and_reports_the_future_one(
    tmp_path: Path, age_key: AgeKey, run_cli: Any
) -> None:
    """The clock is behind when the newest backups are dated later than now: what a clock stepped back
    (NTP fixing a fast clock, a restored VM snapshot) leaves behind."""
    now = datetime.now(UTC)
    past, future = _write_history(tmp_path / "store", [now - timedelta(days=3), now + timedelta(days=1)])
    config = tmp_path / "config"
    config.mkdir()
    (config / "panel.yaml").write_text("log_level: info\n")
    env = {
        "BACKUP_TARGET": f"file://{tmp_path / 'store'}",
        "BACKUP_AGE_RECIPIENTS": age_key.public,
        "BACKUP_CONFIG_DIR": str(config),
        "BACKUP_KEEP_LAST": "1",
        "BACKUP_KEEP_DAILY": "0",
        "BACKUP_KEEP_WEEKLY": "0",
        "BACKUP_KEEP_MONTHLY": "0",
    }
    created = run_cli(["create", "config", "--json"], env)
    assert created.exit_code == 0, created.output
    new = json.loads(created.stdout)
    assert new["pruned"] == [past]
    assert {item["id"] for item in json.loads(run_cli(["list", "--json"], env).stdout)} == {new["id"], future}
    assert f"warning: backup {future} is dated" in created.stderr and "in the future" in created.stderr

    dry = json.loads(run_cli(["prune", "--dry-run", "--json"], env).stdout)
    assert {row["id"]: row["action"] for row in dry} == {new["id"]: "keep", future: "keep"}
    verified = run_cli(["verify", "latest", "--type", "config", "--json"], env)  # the new one, not the future
    assert verified.exit_code == 0 and json.loads(verified.stdout)[0]["id"] == new["id"]


@given(histories, policies, st.integers(0, 400 * 24 * 60))
def test_backups_dated_in_the_future_are_kept_and_take_no_place(
    history: list[Candidate], policy: RetentionPolicy, now_minutes: int
) -> None:
    now = START + timedelta(minutes=now_minutes)
    decisions = {d.id: d for d in plan(history, policy, now=now)}
    past = [c for c in history if c.completed_at <= now + timedelta(minutes=5)]
    for candidate in history:
        if candidate.completed_at > now + timedelta(minutes=5):
            assert decisions[candidate.id].reasons == ["dated in the future"]
    if past:
        assert {d.id: d.keep for d in plan(past, policy, now=now)} == {
            c.id: decisions[c.id].keep for c in past
        }
