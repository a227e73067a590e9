"""Fixtures of the e2e tier: one kwok cluster per session, one namespace per test, both Helm majors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Iterator

import pytest
from e2e_cluster import (
    HELM_FLAVOURS,
    Cluster,
    Toolchain,
    diagnostics,
    install_toolchain,
    start_cluster,
    stop_cluster,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the local Kubernetes control plane (make e2e)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    report = yield
    # Remember each phase's outcome so fixtures can print diagnostics for failed tests only.
    setattr(item, f"e2e_report_{call.when}", report)
    return report


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return install_toolchain()


@pytest.fixture(scope="session")
def cluster(toolchain: Toolchain) -> Iterator[Cluster]:
    started = start_cluster(toolchain)
    try:
        yield started
    finally:
        stop_cluster(started)


@pytest.fixture(params=HELM_FLAVOURS)
def helm(request: pytest.FixtureRequest) -> str:
    """Which Helm major runs the test: 'helm4' or 'helm3'."""
    return str(request.param)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace that enforces Pod Security `restricted` (and warns/audits at that level)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    labels |= {
        f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce", "warn", "audit")
    }
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(body))
    yield name
    report = getattr(request.node, "e2e_report_call", None)
    if report is None or report.failed:
        print(diagnostics(cluster, name))
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    cluster.kubectl("delete", "pv", "-l", f"panel-e2e/namespace={name}", "--wait=false", check=False)
