"""Fixtures for the image suite: the four images built once per session, and the panel running in them.

The session builds the images with `ci/images.sh` (cached layers make a rebuild of unchanged code take
seconds), so the tests always run what the current tree builds. PANEL_IMAGES_PREBUILT=1 skips that
step when the images were just built by `make images`. Run as root, a machine without podman gets it
from ci/images.sh (apt); otherwise every test here fails with the command that installs it: a missing
container engine must never look like a pass.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_podman import (
    INSTALL_HINT,
    REPO_ROOT,
    PanelStack,
    detached,
    give_to_image_user,
    missing_tools,
    run,
    wait_for_http,
)
from support.servers import free_port


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "images: builds the OCI images with podman and runs them")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.images)
            # A cold build of all four images takes minutes; it happens inside the first test's setup.
            item.add_marker(pytest.mark.timeout(1800))


@pytest.fixture(scope="session")
def built_images(tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = missing_tools()
    prebuilt = os.environ.get("PANEL_IMAGES_PREBUILT") == "1"
    # As root, ci/images.sh installs podman and runc itself (as CI does); otherwise say what to install.
    if missing and (prebuilt or os.geteuid() != 0):
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL_HINT}", pytrace=False)
    if prebuilt:
        return
    log = tmp_path_factory.mktemp("build") / "images.log"
    with log.open("w") as handle:
        status = subprocess.run(
            ["bash", str(REPO_ROOT / "ci/images.sh")], stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        ).returncode
    if status != 0:
        pytest.fail(f"ci/images.sh failed (exit {status}):\n{log.read_text()[-6000:]}", pytrace=False)


@pytest.fixture(scope="session")
def panel_stack(
    built_images: None, postgres_server, redis_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PanelStack]:
    database = postgres_server.create_database()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PANEL_URL": url,
        "DATABASE_URL": postgres_server.url(database),
        "REDIS_URL": redis_server.url(6),
        "SECRET_KEY": secrets.token_hex(32),
        "JWT_SECRET": secrets.token_hex(32),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "METRICS_PORT": str(free_port()),  # the web's metrics listener (contract C2)
        "METRICS_ADDRESS": "127.0.0.1",
    }
    secrets_dir = tmp_path_factory.mktemp("panel-secrets")
    password = secrets.token_urlsafe(18)
    password_file = secrets_dir / "admin-password"
    password_file.write_text(password + "\n")
    give_to_image_user(password_file, 0o400)
    try:
        migrate = run("panel", "migrate", env=env)
        assert migrate.returncode == 0, f"panel migrate failed:\n{migrate.output}"
        admin = run(
            "panel",
            "create-admin",
            "--username",
            "admin",
            "--password-file",
            "/run/secrets/admin-password",
            env=env,
            volumes=[f"{password_file}:/run/secrets/admin-password:ro"],
        )
        assert admin.returncode == 0, f"panel create-admin failed:\n{admin.output}"
        worker_metrics_port = free_port()  # the worker's own metrics listener (contract C2)
        with (
            detached("panel", "web", env=env) as web,
            detached("panel", "worker", env={**env, "METRICS_PORT": str(worker_metrics_port)}) as worker,
        ):
            wait_for_http(f"{url}/readyz", web)
            yield PanelStack(url, port, env, "admin", password, web, worker, worker_metrics_port)
    finally:
        postgres_server.drop_database(database)
