"""What `panel worker` exports on its metrics port (contract C2), read the way its listener reads it: the
multiprocess files in PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from panel.app import create_app
from panel_helpers import make_settings, migrate
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector


def test_worker_exports_its_check_round_duration(
    postgres_database: str, redis_url: str, make_settings_env: dict[str, str], tmp_path: Path
) -> None:
    # The worker dropped the previous run's files after `panel` had already defined its metrics: the
    # round-duration histogram (no labels, so its file exists from the start) then lived in a deleted file
    # and never reached /metrics. Seen on the real node: the worker's /metrics was empty at first.
    from panel import jobs

    migrate(postgres_database)
    metrics_dir = tmp_path / "metrics"
    app = create_app(make_settings(postgres_database, redis_url))
    with app.app_context():
        jobs.enqueue_check_all()
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
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    exposition = generate_latest(registry).decode()
    assert "panel_check_round_duration_seconds_count 1.0" in exposition, exposition
    assert 'panel_check_rounds_total{state="finished",trigger="manual"} 1.0' in exposition, exposition
    app.extensions["panel"].engine.dispose()
