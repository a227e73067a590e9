"""Expand/contract migrations: readiness, `panel migrate` and `wait-for-schema` against a database
that is behind, at, or ahead of this code, and the previous release's code on today's schema.

A rolling upgrade that migrates has old pods serving on the new schema; a rollback has old pods
starting on it. Both only work when no migration breaks the previous release (CONTRIBUTING.md), when
an image accepts a schema ahead of its own, and when Redis trouble does not empty every Service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from panel import schema
from panel.app import create_app
from panel.cli import main
from panel.db import make_engine
from panel.settings import load_settings
from panel_helpers import body, make_settings, migrate
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

REPO_ROOT = Path(__file__).resolve().parents[2]
# The last release: its code must keep working on every schema this code migrates to. Move this to the
# new release's commit when cutting a release (CONTRIBUTING.md, "Migrations").
PREVIOUS_RELEASE = os.environ.get("PANEL_PREVIOUS_RELEASE", "fe0f7a7")
FUTURE_REVISION = "ffff_from_a_newer_release"  # also spelled out in the SQL below


def _run_sql(database_url: str, *statements: str) -> None:
    engine = make_engine(load_settings(environ={}, database_url=database_url))
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def _migrate_as_a_newer_release(database_url: str) -> None:
    """What a newer release's expand migration leaves behind: an extra nullable column and table, and
    a revision id this code has never heard of."""
    migrate(database_url)
    _run_sql(
        database_url,
        "ALTER TABLE servers ADD COLUMN future_notes TEXT",
        "CREATE TABLE future_things (id INTEGER PRIMARY KEY, note TEXT)",
        "UPDATE alembic_version SET version_num = 'ffff_from_a_newer_release'",
    )


def test_standing_tells_empty_current_and_ahead_apart() -> None:
    assert schema.standing_of(None) is schema.Standing.EMPTY
    assert schema.standing_of(schema.head_revision()) is schema.Standing.CURRENT
    assert schema.standing_of(FUTURE_REVISION) is schema.Standing.AHEAD
    assert schema.Standing.AHEAD.serves_this_image and not schema.Standing.EMPTY.serves_this_image


def test_readyz_stays_ready_with_redis_down(migrated_database: str) -> None:
    # Nothing listens on port 9: a Redis outage. Sign-in pages and Bearer reads still work, so the
    # pod must stay in its Service's endpoints; the body still says what is wrong.
    app = create_app(make_settings(migrated_database, "redis://127.0.0.1:9/0", readiness_timeout_seconds=1.0))
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 200
        assert body(response)["status"] == "degraded"
        assert body(response)["checks"]["database"] == "ok"
        assert body(response)["checks"]["redis"].startswith("unavailable")
    finally:
        app.extensions["panel"].engine.dispose()


def test_readyz_is_ready_on_a_schema_ahead_of_this_image(database_url: str, redis_url: str) -> None:
    _migrate_as_a_newer_release(database_url)
    app = create_app(make_settings(database_url, redis_url))
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 200, body(response)
        assert body(response)["checks"] == {"database": "ok", "redis": "ok"}
    finally:
        app.extensions["panel"].engine.dispose()


def test_migrate_leaves_a_schema_ahead_alone_and_says_so(cli_env: dict[str, str]) -> None:
    _migrate_as_a_newer_release(cli_env["DATABASE_URL"])
    runner = CliRunner()
    result = runner.invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output and FUTURE_REVISION in result.output
    assert result.exception is None
    waited = runner.invoke(main, ["wait-for-schema", "--timeout", "5", "--interval", "0.1"])
    assert waited.exit_code == 0, waited.output
    assert "ahead" in waited.output
    engine = make_engine(load_settings(environ={}, database_url=cli_env["DATABASE_URL"]))
    assert schema.current_revision(engine) == FUTURE_REVISION  # untouched
    engine.dispose()


def test_worker_creates_a_missing_metrics_folder(
    postgres_database: str, redis_url: str, make_settings_env: dict[str, str], tmp_path: Path
) -> None:
    # In a pod, PROMETHEUS_MULTIPROC_DIR points into a fresh emptyDir where no folder exists yet: the
    # worker's first counter write used to raise FileNotFoundError and fail every check-all job.
    from panel import jobs
    from rq.job import Job

    migrate(postgres_database)
    metrics_dir = tmp_path / "not-yet" / "metrics"
    app = create_app(make_settings(postgres_database, redis_url))
    with app.app_context():
        from panel.extensions import resources

        job = jobs.enqueue_check_all()
        connection = resources().redis
    env = {
        **os.environ,
        **make_settings_env,
        "DATABASE_URL": postgres_database,
        "REDIS_URL": redis_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    worker = subprocess.run(
        [sys.executable, "-m", "panel.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    finished = Job.fetch(job.id, connection=connection)
    assert finished.get_status() == "finished", worker.stderr
    assert metrics_dir.is_dir() and any(metrics_dir.glob("counter_*.db"))
    # ...and what it wrote reaches /metrics: the round-duration histogram (no labels, so its file opens when
    # the metric is defined) once lived in a file the worker deleted while clearing a previous run's files.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    exposition = generate_latest(registry).decode()
    assert "panel_check_round_duration_seconds_count 1.0" in exposition, exposition
    app.extensions["panel"].engine.dispose()


# --- the previous release's code on today's schema -----------------------------------------------


@pytest.fixture(scope="module")
def previous_release_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's `panel` package, exported from git (the venv's dependencies serve it)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, "services/panel/src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.fail(
            f"cannot export the previous release {PREVIOUS_RELEASE} from git: "
            f"{archive.stderr.decode(errors='replace').strip()}; fix: test from a full clone "
            "(not shallow), or set PANEL_PREVIOUS_RELEASE to a commit that exists"
        )
    target = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target / "services" / "panel" / "src"


# Runs inside the previous release's code: sign in, then every server operation the API offers, on a
# database that today's `panel migrate` brought to today's head.
_OLD_CODE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import panel
    assert panel.__file__.startswith(sys.argv[1]), panel.__file__
    from panel.app import create_app
    from panel.auth.passwords import hash_password
    from panel.extensions import db
    from panel.models import User
    from panel.settings import load_settings

    settings = load_settings()
    app = create_app(settings)
    with app.app_context():
        session = db()
        session.add(User(username="old-admin", password_hash=hash_password("an old release's password"),
                         role="admin", is_active=True))
        session.commit()
    client = app.test_client()
    seen = {}
    token = client.post("/api/v2/auth/token",
                        json={"username": "old-admin", "password": "an old release's password"})
    seen["token"] = token.status_code
    headers = {"Authorization": "Bearer " + token.get_json()["access_token"]}
    created = client.post("/api/v2/servers", headers=headers,
                          json={"name": "old-code", "address": "127.0.0.1", "port": 22, "protocol": "tcp"})
    seen["create"] = created.status_code
    server_id = created.get_json()["id"]
    seen["list"] = client.get("/api/v2/servers", headers=headers).status_code
    seen["get"] = client.get(f"/api/v2/servers/{server_id}", headers=headers).status_code
    seen["patch"] = client.patch(f"/api/v2/servers/{server_id}", headers=headers,
                                 json={"tags": ["old"]}).status_code
    seen["check"] = client.post(f"/api/v2/servers/{server_id}/check", headers=headers).status_code
    seen["summary"] = client.get("/api/v2/summary", headers=headers).status_code
    seen["users"] = client.get("/api/v2/users", headers=headers).status_code
    seen["audit"] = client.get("/api/v2/audit", headers=headers).status_code
    seen["v1"] = client.get("/api/v1/servers", headers=headers).status_code
    seen["delete"] = client.delete(f"/api/v2/servers/{server_id}", headers=headers).status_code
    print(json.dumps(seen))
    """
)


@pytest.fixture
def todays_schema(postgres_database: str) -> Iterator[str]:
    migrate(postgres_database)  # today's code, today's head
    yield postgres_database


def test_previous_release_serves_on_todays_schema(
    previous_release_src: Path, todays_schema: str, redis_url: str, make_settings_env: dict[str, str]
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        **make_settings_env,
        "DATABASE_URL": todays_schema,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(previous_release_src),
    }
    result = subprocess.run(
        [sys.executable, "-c", _OLD_CODE_SCRIPT, str(previous_release_src)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    import json

    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "token": 200,
        "create": 201,
        "list": 200,
        "get": 200,
        "patch": 200,
        "check": 202,
        "summary": 200,
        "users": 200,
        "audit": 200,
        "v1": 200,
        "delete": 204,
    }, f"the previous release ({PREVIOUS_RELEASE}) fails on today's schema: {seen}"
