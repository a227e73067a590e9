"""Fixtures of the e2e tier.

kwok tier: one kwok cluster per session (`cluster`), one namespace per test (`namespace`), both Helm majors
(`helm`). Real-node tier: one real node per session (`node`, ci/cluster/node_cluster.py), its S3 server
(`node_s3`), one restricted namespace per test that asks (`node_namespace`).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

# The node cluster's starter lives with its toolchain in ci/cluster (no package: it also runs as a script).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ci" / "cluster"))

from e2e_cluster import (
    HELM_FLAVOURS,
    REPO_ROOT,
    Cluster,
    Toolchain,
    diagnostics,
    install_toolchain,
    run,
    start_cluster,
    stop_cluster,
)
from node_cluster import Binaries, NodeCluster
from node_tier import Release, build_images, start_s3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the local Kubernetes control plane (make e2e)")
    config.addinivalue_line("markers", "node: needs the real one-node cluster (root; part of make e2e)")


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


@pytest.fixture(scope="session")
def node(toolchain: Toolchain) -> Iterator[NodeCluster]:
    """The real node, started once per session with every image the tier needs imported; always torn
    down (namespace, processes, mounts, sysctls), also when a test or the start itself fails."""
    images = build_images()
    node_tools = run(["bash", REPO_ROOT / "ci/cluster/node-tools.sh"], timeout=7200).stdout.split()[-1]
    binaries = Binaries(
        control_plane=toolchain.cluster_bin,
        node=Path(node_tools),
        kubectl=toolchain.kubectl,
        helm=toolchain.helm["helm4"],
    )
    started = NodeCluster(binaries)
    started.start(images)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def node_s3(node: NodeCluster) -> str:
    """moto's S3 server on the node network, with the chart's default bucket; its endpoint URL."""
    return start_s3(node)


@pytest.fixture
def node_namespace(node: NodeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the real node that enforces Pod Security `restricted`."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    node.kubectl("create", "-f", "-", stdin=json.dumps(body))
    yield name
    report = getattr(request.node, "e2e_report_call", None)
    if report is None or report.failed:
        print(Release(node, name, node.binaries.kubectl, node.state / "volumes").diagnostics())
    node.kubectl("delete", "namespace", name, "--wait=false", check=False)
