"""Every name the chart generates fits its kind's limit for any release name Helm accepts (53 characters,
dots and leading digits included), names stay unique between long releases, and every reference between
the chart's own objects (Services, Secrets, ConfigMaps, claims, scale targets, URLs) still resolves.

`helm template` and kubeconform accept names the API server or its controllers later refuse, so the
limits are written out here: the e2e tier sends the same long-named release through a server-side dry run.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from chart_support import SCENARIOS, Tools, documents, helm_template, pod_specs, scenario_files

pytestmark = pytest.mark.timeout(3600)

HELM_RELEASE_NAME_MAX = 53
# Release names Helm accepts (`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`, 53 max).
LONG_RELEASES = {
    "letters": "argocd-application-for-the-production-panel-stack-eu1",
    "digit-first": "2026-argocd-application-for-the-production-panel-eu12",
    "dotted": "team.platform.argocd-application-panel-production-eu1",
}
# The API's limits: a CronJob's Jobs are `<name>-<minutes since epoch>` (11 more characters within 63);
# a StatefulSet's pods carry `controller-revision-hash: <name>-<hash>` (a label value, 63); a Job's
# pods carry `job-name: <name>` (63); Services are DNS-1035 labels (63); the rest are DNS subdomains.
KIND_LIMITS = {"CronJob": 52, "StatefulSet": 52, "Job": 63, "Service": 63}
DNS_SUBDOMAIN_MAX = 253
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def render_release(tools: Tools, scenario: str, release: str) -> list[dict[str, Any]]:
    return documents(helm_template(tools, [scenario_files()[scenario]], release=release))


def name_problems(doc: dict[str, Any]) -> list[str]:
    kind, name = doc["kind"], doc["metadata"]["name"]
    limit = KIND_LIMITS.get(kind, DNS_SUBDOMAIN_MAX)
    problems = []
    if len(name) > limit:
        problems.append(f"{kind}/{name}: {len(name)} characters, the limit is {limit}")
    pattern = DNS_1035_LABEL if kind == "Service" else DNS_1123_SUBDOMAIN
    if not pattern.match(name):
        problems.append(f"{kind}/{name}: not a valid {kind} name ({pattern.pattern})")
    if kind in KIND_LIMITS and not DNS_1123_LABEL.match(name):
        problems.append(f"{kind}/{name}: used as a label value, so it must be a DNS label")
    return problems


@pytest.mark.parametrize("release", sorted(LONG_RELEASES))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_name_fits_its_kind(tools: Tools, scenario: str, release: str) -> None:
    name = LONG_RELEASES[release]
    assert len(name) == HELM_RELEASE_NAME_MAX
    docs = render_release(tools, scenario, name)
    problems = [problem for doc in docs for problem in name_problems(doc)]
    assert not problems, "\n".join(problems)


def test_short_release_names_are_unchanged(rendered: dict[str, str]) -> None:
    # The README and NOTES name objects `<release>-<component>`; upgrades keep those names.
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in documents(rendered["defaults"])}
    for expected in [
        ("Deployment", "panel-web"),
        ("CronJob", "panel-backup-database"),
        ("StatefulSet", "panel-database"),
        ("Service", "panel-redis"),
        ("ConfigMap", "panel-config"),
    ]:
        assert expected in names, sorted(names)


def test_long_releases_sharing_a_prefix_get_different_names(tools: Tools) -> None:
    first = render_release(tools, "defaults", LONG_RELEASES["letters"])
    second = render_release(tools, "defaults", LONG_RELEASES["letters"][:-1] + "2")
    pick = {("CronJob", doc["metadata"]["name"]) for doc in first if doc["kind"] == "CronJob"}
    other = {("CronJob", doc["metadata"]["name"]) for doc in second if doc["kind"] == "CronJob"}
    assert pick and other and not pick & other, (pick, other)


def references(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of every object of the same namespace that `doc` points at."""
    refs: list[tuple[str, str]] = []
    spec = doc.get("spec", {})
    if doc["kind"] == "HorizontalPodAutoscaler":
        refs.append((spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"]))
    if doc["kind"] == "StatefulSet":
        refs.append(("Service", spec["serviceName"]))
    if doc["kind"] == "Ingress":
        for rule in spec.get("rules", []):
            for path in rule["http"]["paths"]:
                refs.append(("Service", path["backend"]["service"]["name"]))
    for _, pod in pod_specs(doc):
        if pod.get("serviceAccountName"):
            refs.append(("ServiceAccount", pod["serviceAccountName"]))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                refs.append(("Secret", volume["secret"]["secretName"]))
            if "configMap" in volume:
                refs.append(("ConfigMap", volume["configMap"]["name"]))
            if "persistentVolumeClaim" in volume:
                refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    refs.append(("ConfigMap", source["configMapRef"]["name"]))
            for variable in container.get("env", []):
                value = str(variable.get("value", ""))
                if variable["name"] == "LOADTEST_MASTER_HOST":
                    refs.append(("Service", value))
                elif value.startswith("http://") and "." not in (urlsplit(value).hostname or "."):
                    # In-cluster URLs name the Service alone (it resolves in the pod's namespace).
                    refs.append(("Service", urlsplit(value).hostname or ""))
    if doc["kind"] == "Secret":
        for key in ("database-url", "redis-url"):
            url = doc.get("stringData", {}).get(key, "")
            host = urlsplit(url).hostname or ""
            if host and "." not in host:
                refs.append(("Service", host))
    return refs


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_references_between_objects_resolve_for_long_names(tools: Tools, scenario: str) -> None:
    release = LONG_RELEASES["dotted"]
    docs = render_release(tools, scenario, release)
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    own_prefix = release.replace(".", "-")[:12]
    # Objects the user brings (existingSecret, extraVolumes, ...) are not the chart's to resolve.
    ours = [(doc, ref) for doc in docs for ref in references(doc) if ref[1].startswith(own_prefix)]
    assert len(ours) >= 10, "the reference walk found almost nothing: is references() still right?"
    dangling = [(doc["kind"], doc["metadata"]["name"], ref) for doc, ref in ours if ref not in names]
    assert not dangling, dangling
