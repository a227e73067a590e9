"""A throwaway Versity S3 Gateway (versitygw v1.8.0) over a temporary folder, on loopback.

versitygw is a real S3 server (Go, the posix backend stores each object as a file), unlike moto,
which emulates S3 in memory. Suites that must hold on more than one S3 implementation start one per
test session next to moto's server.

The binary is built from its Go module by `ci/tools.sh` (line `versitygw=<path>`), cached outside the
repository under ~/.cache/panel-tools/versitygw-v1.8.0/. Credentials reach the server through its
environment (ROOT_ACCESS_KEY_ID / ROOT_SECRET_ACCESS_KEY), never its argv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .servers import free_port, wait_for_port

VERSION = "v1.8.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHED_BINARY = Path.home() / ".cache" / "panel-tools" / f"versitygw-{VERSION}" / "bin" / "versitygw"
BUILD_HINT = (
    f"versitygw {VERSION} is not built; run `bash ci/tools.sh` (or: GOFLAGS=-mod=mod CGO_ENABLED=0 "
    f"GOBIN={CACHED_BINARY.parent} go install -trimpath github.com/versity/versitygw/cmd/versitygw@{VERSION})"
)


def versitygw_binary() -> Path:
    """The pinned binary: from ci/tools.sh's output when it knows versitygw, else from the tool cache."""
    tools = REPO_ROOT / "ci" / "tools.sh"
    if "versitygw" in tools.read_text(encoding="utf-8"):
        result = subprocess.run(["bash", str(tools)], capture_output=True, text=True, check=False)
        for line in result.stdout.splitlines():
            name, _, path = line.partition("=")
            if name == "versitygw" and Path(path).is_file():
                return Path(path)
    if CACHED_BINARY.is_file():
        return CACHED_BINARY
    raise RuntimeError(BUILD_HINT)


@dataclass
class VersityGateway:
    """`versitygw posix <folder>` on 127.0.0.1 with one root account; buckets are sub-folders."""

    access_key: str = "versity-test-key-id"
    secret_key: str = "versity-test-secret-value"
    port: int = field(default_factory=free_port)
    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="panel-versitygw-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> Path:
        """The posix backend's folder: <root>/<bucket>/<key>."""
        return self.base_dir / "data"

    def start(self) -> VersityGateway:
        binary = versitygw_binary()
        self.root.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
        }
        log = open(self.base_dir / "versitygw.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [str(binary), "--port", f"127.0.0.1:{self.port}", "--quiet", "posix", str(self.root)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                "versitygw did not start:\n" + (self.base_dir / "versitygw.log").read_text()
            ) from None
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)
