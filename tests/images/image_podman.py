"""Run the built images with podman exactly as the chart runs them.

Every container gets the chart's security settings: its image's default user (uid 10001, never
overridden here), a read-only root filesystem with a tmpfs on /tmp, every capability dropped and
no-new-privileges. Networking is the host's loopback, where the session PostgreSQL and Redis listen.
Secrets travel as `--env NAME` (the value comes from podman's own environment), never on argv.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_NAMES = ("panel", "backup", "healthcheck", "loadtest")
IMAGE_UID = 10001
INSTALL_HINT = (
    "the image tests need podman and runc (Debian: `sudo apt-get install podman runc debootstrap`), "
    "then `ci/images.sh` (or `make images`) builds the images; as root, ci/images.sh installs them itself"
)
# runc instead of crun (which refuses hybrid cgroup hosts) and explicit ulimits (podman's defaults can
# exceed what the host allows).
RUNTIME_FLAGS = ("--runtime", "runc", "--ulimit", "nofile=1024:20000", "--ulimit", "nproc=4096:4096")
CHART_SECURITY_FLAGS = (
    "--read-only",
    "--tmpfs",
    "/tmp:rw,mode=1777,size=256m",
    "--cap-drop=ALL",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "host",
)


def project_version() -> str:
    for line in (REPO_ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise RuntimeError("no version in pyproject.toml")


def image_ref(name: str) -> str:
    registry = os.environ.get("PANEL_IMAGE_REGISTRY", "ghcr.io/panel-project")
    return f"{registry}/{name}:{project_version()}"


def missing_tools() -> list[str]:
    return [tool for tool in ("podman", "runc") if shutil.which(tool) is None]


def image_size(name: str) -> int:
    out = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image_ref(name)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.strip())


def give_to_image_user(path: Path, mode: int) -> Path:
    """Make a host file or folder that is mounted into a container usable by the image's uid."""
    os.chown(path, IMAGE_UID, IMAGE_UID)
    path.chmod(mode)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def _command(
    image: str,
    args: Sequence[str],
    env: Mapping[str, str],
    volumes: Sequence[str],
    entrypoint: str | None,
    extra: Sequence[str],
) -> list[str]:
    command = [*RUNTIME_FLAGS, *CHART_SECURITY_FLAGS, *extra]
    for name in env:
        command += ["--env", name]
    for volume in volumes:
        command += ["--volume", volume]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return [*command, image_ref(image), *args]


def _podman_env(env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **env}


def run(
    image: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout: float = 300,
) -> Result:
    """Run a one-shot container to completion and return its exit code and output."""
    env = env or {}
    completed = subprocess.run(
        ["podman", "run", "--rm", *_command(image, args, env, volumes, entrypoint, ())],
        env=_podman_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


@dataclass
class Container:
    name: str

    def logs(self) -> str:
        completed = subprocess.run(["podman", "logs", self.name], capture_output=True, text=True)
        return (completed.stdout + completed.stderr)[-6000:]

    def running(self) -> bool:
        completed = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", self.name], capture_output=True, text=True
        )
        return completed.stdout.strip() == "true"

    def inspect(self, template: str) -> str:
        return subprocess.run(
            ["podman", "inspect", "--format", template, self.name], capture_output=True, text=True, check=True
        ).stdout.strip()


@contextlib.contextmanager
def detached(
    image: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
) -> Iterator[Container]:
    """A long-running container, removed (after a graceful stop) when the block ends."""
    env = env or {}
    container = Container(f"panel-imgtest-{image}-{uuid.uuid4().hex[:8]}")
    subprocess.run(
        [
            "podman",
            "run",
            "--detach",
            "--name",
            container.name,
            *_command(image, args, env, volumes, None, ()),
        ],
        env=_podman_env(env),
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        yield container
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "10", container.name], capture_output=True)


def wait_for_http(url: str, container: Container, deadline_seconds: float = 90) -> httpx.Response:
    """Poll until `url` answers 200; fail with the container's logs if it exits or never does."""
    deadline = time.monotonic() + deadline_seconds
    last = "no answer yet"
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if not container.running():
            raise AssertionError(f"{container.name} exited before {url} answered:\n{container.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 ({last}):\n{container.logs()}")
        time.sleep(0.5)


@dataclass(frozen=True)
class PanelStack:
    """The panel image running as `panel web` and `panel worker` on loopback."""

    url: str
    port: int
    env: dict[str, str]
    admin_username: str
    admin_password: str
    web: Container
    worker: Container
    worker_metrics_port: int

    def token(self) -> str:
        response = httpx.post(
            f"{self.url}/api/v2/auth/token",
            json={"username": self.admin_username, "password": self.admin_password},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])
