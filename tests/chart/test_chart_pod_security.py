"""Every pod the chart renders meets the Pod Security Standards `restricted` profile, and our own rules:
uid 10001, read-only root filesystem with an emptyDir /tmp, requests and limits on every container."""

from __future__ import annotations

from typing import Any

import pytest
from chart_support import SCENARIOS, Tools, documents, helm_template, pod_specs, scenario_files

pytestmark = pytest.mark.timeout(3600)

# Volume types `restricted` allows.
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """What a pod spec does that PSS `restricted` (Kubernetes 1.30+) forbids, one line each."""
    problems: list[str] = []
    pod_context = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds - ALLOWED_VOLUMES)}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    for sysctl in pod_context.get("sysctls", []):
        problems.append(f"sysctl {sysctl['name']}")
    containers = (
        spec.get("containers", []) + spec.get("initContainers", []) + spec.get("ephemeralContainers", [])
    )
    for container in containers:
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount {context['procMount']}")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def panel_violations(spec: dict[str, Any]) -> list[str]:
    """The chart's own hardening rules on top of `restricted`."""
    problems: list[str] = []
    pod_context = spec.get("securityContext", {})
    if pod_context.get("runAsUser") != 10001 or pod_context.get("fsGroup") != 10001:
        problems.append("pod does not run as uid/fsGroup 10001")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("service account token is mounted")
    tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        name = container["name"]
        if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        if mounts.get("/tmp") not in tmp_volumes:
            problems.append(f"{name}: no emptyDir at /tmp")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{name}: no {resource} {kind[:-1]}")
    return problems


def test_the_checker_catches_violations() -> None:
    bad = {
        "hostNetwork": True,
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [
            {"name": "app", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}}
        ],
    }
    problems = restricted_violations(bad)
    for expected in (
        "hostNetwork",
        "hostPath",
        "privileged",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile",
        "drop ALL",
        "SYS_ADMIN",
    ):
        assert any(expected in problem for problem in problems), (expected, problems)
    assert panel_violations(bad)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_is_restricted(rendered: dict[str, str], scenario: str) -> None:
    pods = [pod for doc in documents(rendered[scenario]) for pod in pod_specs(doc)]
    assert pods, "the scenario renders no pods"
    failures = {name: restricted_violations(spec) + panel_violations(spec) for name, spec in pods}
    failures = {name: problems for name, problems in failures.items() if problems}
    assert not failures, failures


def test_openshift_adaptation_stays_restricted(tools: Tools) -> None:
    # On OpenShift the chart leaves the uid, gid and fsGroup to the SCC; nothing else may loosen.
    rendered = helm_template(
        tools, [scenario_files()["everything"]], "--api-versions", "security.openshift.io/v1"
    )
    pods = [pod for doc in documents(rendered) for pod in pod_specs(doc)]
    failures = {name: restricted_violations(spec) for name, spec in pods if restricted_violations(spec)}
    assert not failures, failures
    fixed_ids = [
        name
        for name, spec in pods
        for context in [spec.get("securityContext", {})]
        + [c.get("securityContext", {}) for c in spec["containers"]]
        if {"runAsUser", "runAsGroup", "fsGroup"} & set(context)
    ]
    assert not fixed_ids, fixed_ids
