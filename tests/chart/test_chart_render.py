"""Properties that need more than one render: stable output, hash-named migrations, rolling on change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import (
    CHART_DIR,
    CI_CHART_DIR,
    SCENARIOS,
    Tools,
    documents,
    helm_template,
    pod_specs,
    run,
    scenario_files,
)

pytestmark = pytest.mark.timeout(3600)

# The load-test master Service also picks the master of the current run.
LOADTEST_RUN_KEYS = {"panel.dev/loadtest-role", "panel.dev/loadtest-run"}
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


def by_kind(rendered: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents(rendered) if doc["kind"] == kind]


def test_rendering_is_deterministic(tools: Tools) -> None:
    # No random values at render time: they would change on every upgrade and restart every pod.
    values = [scenario_files()["everything"]]
    assert helm_template(tools, values) == helm_template(tools, values)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_use_only_stable_labels(rendered: dict[str, str], scenario: str) -> None:
    for doc in documents(rendered[scenario]):
        selector = doc.get("spec", {}).get("selector")
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            assert set(selector["matchLabels"]) == SELECTOR_KEYS, doc["metadata"]["name"]
        if doc["kind"] == "Service":
            assert set(selector) - LOADTEST_RUN_KEYS == SELECTOR_KEYS, doc["metadata"]["name"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_the_migrate_job_migrates(rendered: dict[str, str], scenario: str) -> None:
    migrators = [
        name
        for doc in documents(rendered[scenario])
        for name, spec in pod_specs(doc)
        for container in spec["containers"]
        if container.get("args", [None])[0] == "migrate"
    ]
    assert len(migrators) == 1 and "-migrate-" in migrators[0], migrators


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_component_runs_as_its_own_service_account(rendered: dict[str, str], scenario: str) -> None:
    # A workload-identity role given to one component (the backup bucket) must not reach another (web).
    accounts: dict[str, set[str]] = {}
    for doc in documents(rendered[scenario]):
        for _, spec in pod_specs(doc):
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            accounts.setdefault(spec["serviceAccountName"], set()).add(component)
    shared = {account: components for account, components in accounts.items() if len(components) > 1}
    assert not shared, shared
    created = {doc["metadata"]["name"] for doc in by_kind(rendered[scenario], "ServiceAccount")}
    assert set(accounts) <= created, sorted(set(accounts) - created)


def test_service_account_annotations_stay_with_their_component(rendered: dict[str, str]) -> None:
    annotated = {
        doc["metadata"]["name"]
        for doc in by_kind(rendered["everything"], "ServiceAccount")
        if "eks.amazonaws.com/role-arn" in (doc["metadata"].get("annotations") or {})
    }
    assert annotated == {"panel-backup"}


def test_common_labels_and_annotations_reach_every_object(rendered: dict[str, str]) -> None:
    scenario = yaml.safe_load(scenario_files()["everything"].read_text())
    missing = [
        f"{doc['kind']}/{doc['metadata']['name']}"
        for doc in documents(rendered["everything"])
        # extraDeploy objects are the user's, rendered as given.
        if not doc["metadata"]["name"].endswith("-extra")
        and not (
            scenario["commonLabels"].items() <= (doc["metadata"].get("labels") or {}).items()
            and scenario["commonAnnotations"].items() <= (doc["metadata"].get("annotations") or {}).items()
        )
    ]
    assert not missing, missing


NP_COMPONENTS = ("web", "worker", "migrate", "backup", "healthcheck", "loadtest", "test", "database", "redis")


def test_every_network_policy_takes_extra_rules(tools: Tools, tmp_path: Path) -> None:
    marker_in = {"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}
    marker_out = {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]}
    extras = {
        "networkPolicy": {
            "extraIngress": {component: [marker_in] for component in NP_COMPONENTS},
            "extraEgress": {component: [marker_out] for component in NP_COMPONENTS},
        }
    }
    (tmp_path / "extras.yaml").write_text(yaml.safe_dump(extras))
    rendered = helm_template(tools, [scenario_files()["everything"], tmp_path / "extras.yaml"])
    policies = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in by_kind(rendered, "NetworkPolicy")
    }
    assert set(policies) == set(NP_COMPONENTS)
    for component, policy in policies.items():
        assert marker_in in policy["spec"]["ingress"], component
        assert marker_out in policy["spec"]["egress"], component


def migrate_job_name(tools: Tools, *settings: str) -> str:
    extra = [arg for setting in settings for arg in ("--set", setting)]
    rendered = helm_template(
        tools, [scenario_files()["defaults"]], "--show-only", "templates/migrate/job.yaml", *extra
    )
    return str(by_kind(rendered, "Job")[0]["metadata"]["name"])


def test_a_new_image_gets_a_new_migration_job(tools: Tools) -> None:
    first = migrate_job_name(tools, "image.tag=1.0.0")
    assert first == migrate_job_name(tools, "image.tag=1.0.0")
    assert first != migrate_job_name(tools, "image.tag=1.0.1")
    # Scaling web does not re-run migrations.
    assert first == migrate_job_name(tools, "image.tag=1.0.0", "web.autoscaling.maxReplicas=20")


def loadtest_job_names(tools: Tools, chart: Path, *settings: str) -> set[str]:
    extra = [arg for setting in settings for arg in ("--set", setting)]
    rendered = run(
        [
            tools["helm3"],
            "template",
            "panel",
            str(chart),
            "--values",
            str(scenario_files()["loadtest"]),
            *extra,
        ],
        env=tools.env,
    )
    return {
        doc["metadata"]["name"] for doc in by_kind(rendered, "Job") if "-loadtest-" in doc["metadata"]["name"]
    }


def test_anything_that_changes_a_load_test_pod_renames_its_jobs(tools: Tools, tmp_path: Path) -> None:
    # Jobs are immutable: an upgrade that changes a pod template under the same Job name fails.
    base = loadtest_job_names(tools, CHART_DIR)
    assert len(base) == 2 and base == loadtest_job_names(tools, CHART_DIR)
    assert base != loadtest_job_names(tools, CHART_DIR, "loadtest.image.tag=9.9.9")
    assert base != loadtest_job_names(tools, CHART_DIR, "global.imagePullSecrets[0].name=regcred")
    # A chart or app version bump changes the pods' labels (and the default image tag).
    bumped = tmp_path / "panel"
    shutil.copytree(CHART_DIR, bumped)
    chart_yaml = bumped / "Chart.yaml"
    metadata = yaml.safe_load(chart_yaml.read_text())
    for key in ("version", "appVersion"):
        chart_yaml.write_text(yaml.safe_dump({**metadata, key: "9.9.9"}))
        assert base != loadtest_job_names(tools, bumped), f"a new {key} kept the Job names"
    # The master's Service follows the run.
    rendered = helm_template(tools, [scenario_files()["loadtest"]])
    jobs = [doc["metadata"]["name"] for doc in by_kind(rendered, "Job")]
    master = next(name for name in jobs if "-loadtest-" in name and name.endswith("-master"))
    run_id = master.split("-")[-2]
    service = next(doc for doc in by_kind(rendered, "Service") if doc["metadata"]["name"].endswith("master"))
    assert service["spec"]["selector"]["panel.dev/loadtest-run"] == run_id


def pod_annotations(
    tools: Tools, template: str, *settings: str, scenario: str = "defaults"
) -> dict[str, str]:
    extra = [arg for setting in settings for arg in ("--set", setting)]
    rendered = helm_template(tools, [scenario_files()[scenario]], "--show-only", template, *extra)
    return dict(documents(rendered)[0]["spec"]["template"]["metadata"]["annotations"])


WEB = "templates/web/deployment.yaml"
WORKER = "templates/worker/deployment.yaml"
EXPORTER = "templates/healthcheck/deployment.yaml"


def test_config_and_secret_changes_roll_the_pods(tools: Tools) -> None:
    base = pod_annotations(tools, WEB)
    config_changed = pod_annotations(tools, WEB, "config.logLevel=DEBUG")
    secret_changed = pod_annotations(
        tools, WEB, "secrets.app.jwtSecret=another-ci-only-jwt-secret-0123456789abcdef"
    )
    assert config_changed["checksum/config"] != base["checksum/config"]
    assert config_changed["checksum/secrets"] == base["checksum/secrets"]
    assert secret_changed["checksum/secrets"] != base["checksum/secrets"]


def test_a_new_exporter_configuration_rolls_the_pods_that_run_it(tools: Tools) -> None:
    change = "healthcheck.config.default_timeout_seconds=7"
    # Sidecar mode: the exporter runs in the web pods.
    sidecar = pod_annotations(tools, WEB, scenario="exporter-sidecar")
    assert pod_annotations(tools, WEB, change, scenario="exporter-sidecar") != sidecar
    # Deployment mode: the exporter's own pods roll, web does not.
    assert pod_annotations(tools, EXPORTER, change) != pod_annotations(tools, EXPORTER)
    assert pod_annotations(tools, WEB, change) == pod_annotations(tools, WEB)


# Credentials web and worker never mount: changing them must not restart the app.
BACKUP_ONLY_SECRETS = (
    "secrets.s3.accessKeyId=ci-only-other-key",
    "secrets.s3.secretAccessKey=ci-only-other-secret",
    "secrets.smtp.password=ci-only-other-password",
    "secrets.backupEncryption.recipients=age1otherrecipient",
    "secrets.backupWebhook.url=https://hooks.example.com/other",
)


@pytest.mark.parametrize("template", [WEB, WORKER, EXPORTER])
def test_a_workload_rolls_only_for_what_it_mounts(tools: Tools, template: str) -> None:
    base = pod_annotations(tools, template)
    assert pod_annotations(tools, template, *BACKUP_ONLY_SECRETS) == base
    # The database URL is read by all three.
    assert (
        pod_annotations(tools, template, "postgresql.auth.password=ci-only-other-database-password") != base
    )
    if template == EXPORTER:
        # The exporter does not read the app's ConfigMap or its secrets.
        assert pod_annotations(tools, template, "config.logLevel=DEBUG") == base
        assert (
            pod_annotations(
                tools, template, "secrets.app.secretKey=ci-only-other-secret-key-0123456789abcdef"
            )
            == base
        )


# Notifications by mail with a password: what must be set for the password to be used at all.
MAIL = (
    "notifications.smtp.host=smtp.example.com",
    "notifications.smtp.username=panel",
    "notifications.smtp.from=panel@example.com",
)


@pytest.mark.parametrize("template", [WEB, WORKER, EXPORTER])
def test_notification_secrets_roll_only_the_worker_which_sends(tools: Tools, template: str) -> None:
    base = pod_annotations(tools, template, *MAIL, "secrets.notificationSmtp.password=ci-only-one")
    changed = [
        pod_annotations(tools, template, *MAIL, "secrets.notificationSmtp.password=ci-only-two"),
        pod_annotations(
            tools,
            template,
            *MAIL,
            "secrets.notificationSmtp.password=ci-only-one",
            "secrets.notificationWebhook.signingSecret=ci-only-signing",
        ),
    ]
    for after in changed:
        if template == WORKER:
            assert after["checksum/secrets"] != base["checksum/secrets"]
            assert after["checksum/config"] == base["checksum/config"]
        else:
            assert after == base


def alert_runbooks(tools: Tools, chart: Path, *settings: str) -> dict[str, str]:
    """Alert name -> runbook_url of the PrometheusRule the chart renders."""
    extra = [arg for setting in settings for arg in ("--set", setting)]
    rendered = run(
        [
            tools["helm3"], "template", "panel", str(chart), "--values", str(scenario_files()["everything"]),
            "--show-only", "templates/healthcheck/prometheusrule.yaml", *extra,
        ],
        env=tools.env,
    )  # fmt: skip
    [rule] = documents(rendered)
    return {
        r["alert"]: r["annotations"]["runbook_url"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def test_every_alert_links_into_the_configured_runbooks(tools: Tools, tmp_path: Path) -> None:
    wiki = "https://wiki.example.com/ops/panel-runbooks"
    links = alert_runbooks(tools, CHART_DIR, f"healthcheck.prometheusRule.runbookBaseUrl={wiki}")
    assert len(links) >= 10
    assert links == {alert: f"{wiki}#{alert.lower()}" for alert in links}
    # By default: runbooks.md under the chart's home, whatever that is.
    moved = tmp_path / "panel"
    shutil.copytree(CHART_DIR, moved)
    chart_yaml = moved / "Chart.yaml"
    chart_yaml.write_text(
        yaml.safe_dump(
            {**yaml.safe_load(chart_yaml.read_text()), "home": "https://git.example.org/ops/panel"}
        )
    )
    page = "https://git.example.org/ops/panel/blob/main/charts/panel/docs/runbooks.md"
    assert alert_runbooks(tools, moved) == {alert: f"{page}#{alert.lower()}" for alert in links}


def test_schema_rejects_typos_in_our_values(tools: Tools) -> None:
    result = subprocess.run(
        [
            tools["helm3"],
            "template",
            "x",
            str(CHART_DIR),
            "--values",
            str(scenario_files()["defaults"]),
            "--set",
            "web.replicaCont=2",
        ],
        capture_output=True,
        text=True,
        env=tools.env,
        check=False,
    )
    assert result.returncode != 0
    assert "replicaCont" in result.stderr


def test_schema_is_self_contained_and_current() -> None:
    text = (CHART_DIR / "values.schema.json").read_text()
    assert '"$ref"' not in text
    result = subprocess.run(
        [sys.executable, str(CI_CHART_DIR / "values-schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
