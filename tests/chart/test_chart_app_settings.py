"""The chart's contract with the settings the services read (services/panel/src/panel/settings.py,
services/healthcheck/src/panel_health/settings.py, services/backup/src/panel_backup/settings.py):

- every key the chart puts into the app's ConfigMap is a setting the panel reads (a misspelt key would be
  ignored without a word);
- the panel accepts what every scenario renders for each panel-image container: the ConfigMap, the plain
  environment and the `*_FILE` secrets it mounts, read from the rendered Secrets (its settings refuse a bad
  number, a bad choice or an unreadable file with exit 2, so a pod would crash-loop);
- the exporter accepts the configuration file and environment every scenario renders for it, and every
  backup container its environment and secret files (each `BACKUP_*` variable being one it reads);
- the schema's bounds and choices for panel settings are the panel's own, so `helm install` refuses what
  the pod would refuse at start.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from chart_support import CHART_DIR, SCENARIOS, documents, pod_specs
from panel.settings import Settings, load_settings
from panel_backup.settings import Settings as BackupSettings
from panel_backup.settings import load_settings as load_backup_settings
from panel_health.settings import load_settings as load_health_settings
from panel_loadtest.cli import run as loadtest_run
from panel_loadtest.settings import LoadTestSettings, Thresholds
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

pytestmark = pytest.mark.timeout(600)

SECRETS_DIR = "/var/run/secrets/panel/"
# Read by prometheus_client in the panel's processes, not by its Settings.
NOT_PANEL_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR"}
# Stand-ins for keys of Secrets the scenarios name as `existingSecret` (not rendered, so unknown here).
EXISTING_SECRET_VALUES = {
    "DATABASE_URL": "postgresql://panel:ci-only@db.internal:5432/panel",
    "REDIS_URL": "rediss://:ci-only@redis.internal:6380/0",
}
EXISTING_SECRET_DEFAULT = "ci-only-existing-secret-0123456789abcdef"

# Panel settings the chart renders from a value -> that value's path in values.yaml. Every numeric or
# enumerated setting the chart renders must be listed (test_every_rendered_bounded_setting_is_mapped).
VALUE_OF_SETTING = {
    "PANEL_ENV": "config.environment",
    "LOG_LEVEL": "config.logLevel",
    "DB_POOL_SIZE": "config.dbPoolSize",
    "DB_MAX_OVERFLOW": "config.dbMaxOverflow",
    "TRUSTED_PROXIES": "config.trustedProxies",
    "METRICS_PORT": "metrics.port",
    "WEB_CONCURRENCY": "web.concurrency",
    "REDIS_TIMEOUT_SECONDS": "config.redisTimeoutSeconds",
    "REDIS_BREAKER_SECONDS": "config.redisBreakerSeconds",
    "OIDC_DEFAULT_ROLE": "config.oidcDefaultRole",
    "JWT_ACCESS_TTL_SECONDS": "config.tokens.accessTtlSeconds",
    "JWT_REFRESH_TTL_SECONDS": "config.tokens.refreshTtlSeconds",
    "WEB_THREADS": "web.threads",
    "CHECK_INTERVAL_SECONDS": "config.checks.intervalSeconds",
    "CHECK_TIMEOUT_SECONDS": "config.checks.timeoutSeconds",
    "CHECK_CONCURRENCY": "config.checks.concurrency",
    "LOGIN_RATE_LIMIT": "config.login.rateLimit",
    "LOGIN_RATE_WINDOW_SECONDS": "config.login.rateWindowSeconds",
    "CHECK_HISTORY_DAYS": "config.checks.historyDays",
    "LOGIN_ADDRESS_LIMIT": "config.login.addressLimit",
    "LOGIN_USER_FREE_FAILURES": "config.login.userFreeFailures",
    "LOGIN_USER_MAX_DELAY_SECONDS": "config.login.userMaxDelaySeconds",
    "UI_REFRESH_SECONDS": "config.uiRefreshSeconds",
    "NOTIFY_FAILURES_BEFORE_DOWN": "notifications.failuresBeforeDown",
    "NOTIFY_TIMEOUT_SECONDS": "notifications.timeoutSeconds",
    "NOTIFY_SMTP_PORT": "notifications.smtp.port",
    "NOTIFY_SMTP_SECURITY": "notifications.smtp.security",
}


def rendered_docs(rendered: dict[str, str], scenario: str) -> list[dict[str, Any]]:
    return documents(rendered[scenario])


def by_kind_and_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def panel_containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(description, container, pod spec) of every container running the panel image."""
    found = []
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                if "panel-project/panel" in container.get("image", ""):
                    found.append((f"{where}/{container['name']}", container, pod))
    return found


def secret_value(
    objects: dict[tuple[str, str], dict[str, Any]], pod: dict[str, Any], container: dict[str, Any], path: str
) -> str:
    """The content of a mounted secret file, from the rendered Secret behind the mount."""
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    key = path.removeprefix(mount["mountPath"] + "/")
    secret = objects.get(("Secret", volume["secret"]["secretName"]))
    if secret is None:  # an existingSecret: not rendered
        name = Path(path).name
        env = next(e["name"] for e in container["env"] if e.get("value") == path).removesuffix("_FILE")
        return EXISTING_SECRET_VALUES.get(env, EXISTING_SECRET_DEFAULT if name else "")
    data = secret.get("stringData", {})
    assert key in data, f"{path}: Secret {volume['secret']['secretName']} has no key {key!r}"
    return str(data[key])


def container_environment(
    objects: dict[tuple[str, str], dict[str, Any]],
    pod: dict[str, Any],
    container: dict[str, Any],
    files: Path,
) -> dict[str, str]:
    """What the container's process sees: ConfigMaps from envFrom, then env (secret files written out)."""
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environ.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for variable in container.get("env", []):
        if "value" not in variable:
            continue  # valueFrom: filled in by Kubernetes
        value = str(variable["value"])
        if variable["name"].endswith("_FILE") and value.startswith(SECRETS_DIR):
            local = files / value.removeprefix(SECRETS_DIR)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(secret_value(objects, pod, container, value))
            value = str(local)
        environ[variable["name"]] = value
    return environ


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_configmap_key_is_a_panel_setting(rendered: dict[str, str], scenario: str) -> None:
    settings = {name.upper() for name in Settings.model_fields}
    docs = rendered_docs(rendered, scenario)
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config")]
    unknown = sorted(set(config["data"]) - settings - NOT_PANEL_SETTINGS)
    assert not unknown, f"{scenario}: the panel reads no setting {unknown}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_panel_accepts_what_the_chart_renders(
    rendered: dict[str, str], scenario: str, tmp_path: Path
) -> None:
    docs = rendered_docs(rendered, scenario)
    objects = by_kind_and_name(docs)
    containers = panel_containers(docs)
    assert containers, f"{scenario}: no panel container"
    for where, container, pod in containers:
        environ = container_environment(objects, pod, container, tmp_path / where.replace("/", "_"))
        load_settings(environ)  # raises SettingsError, one line per problem


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_exporter_accepts_what_the_chart_renders(
    rendered: dict[str, str], scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered_docs(rendered, scenario)
    objects = by_kind_and_name(docs)
    exporters = [
        (container, pod)
        for doc in docs
        for _, pod in pod_specs(doc)
        for container in pod.get("containers", [])
        if container["name"] == "healthcheck"
    ]
    for container, pod in exporters:
        mount = next(m for m in container["volumeMounts"] if m["name"] == "healthcheck-config")
        volume = next(v for v in pod["volumes"] if v["name"] == "healthcheck-config")
        config = objects[("ConfigMap", volume["configMap"]["name"])]["data"]["config.yaml"]
        environ = container_environment(objects, pod, container, tmp_path / "secrets")
        path = environ.pop("PANEL_HEALTH_CONFIG")
        assert path == f"{mount['mountPath']}/config.yaml"
        (tmp_path / "config.yaml").write_text(config)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        load_health_settings(tmp_path / "config.yaml")  # raises ConfigError, one line per problem


def schema_at(path: str) -> dict[str, Any]:
    node: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
    for key in path.split("."):
        node = node["properties"][key]
    return node


def app_constraints(setting: str) -> dict[str, Any]:
    """The JSON-schema form of a panel setting's type and bounds."""
    return field_constraints(Settings.model_fields[setting.lower()])


def field_constraints(field: FieldInfo) -> dict[str, Any]:
    """The JSON-schema form of a pydantic field's type and bounds."""
    if typing.get_origin(field.annotation) is typing.Literal:
        return {"enum": sorted(typing.get_args(field.annotation))}
    constraints: dict[str, Any] = {"type": "integer" if field.annotation is int else "number"}
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            constraints["minimum"] = rule.ge
        elif isinstance(rule, annotated_types.Gt):
            constraints["exclusiveMinimum"] = rule.gt
        elif isinstance(rule, annotated_types.Le):
            constraints["maximum"] = rule.le
        elif isinstance(rule, annotated_types.Lt):
            constraints["exclusiveMaximum"] = rule.lt
    return constraints


def schema_constraints(path: str, like: dict[str, Any]) -> dict[str, Any]:
    node = schema_at(path)
    if "enum" in like:
        return {"enum": sorted(node.get("enum", []))}
    return {key: node.get(key) for key in like}


@pytest.mark.parametrize("setting", sorted(VALUE_OF_SETTING))
def test_the_schema_allows_exactly_what_the_panel_allows(setting: str) -> None:
    app = app_constraints(setting)
    assert schema_constraints(VALUE_OF_SETTING[setting], app) == app, (
        f"{VALUE_OF_SETTING[setting]} ({setting}): the schema's bounds differ from the panel's"
    )


def test_every_rendered_bounded_setting_is_mapped(rendered: dict[str, str]) -> None:
    rendered_settings: set[str] = set()
    for scenario in SCENARIOS:
        docs = rendered_docs(rendered, scenario)
        objects = by_kind_and_name(docs)
        for _, container, _ in panel_containers(docs):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    rendered_settings |= set(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
            rendered_settings |= {v["name"] for v in container.get("env", []) if "value" in v}
    # config.extra and extraEnv are the user's own and not schema-checked.
    user_given = set(
        yaml.safe_load((CHART_DIR / "ci" / "everything-values.yaml").read_text())["config"]["extra"]
    )
    bounded = {
        name
        for name in rendered_settings - user_given
        if name.lower() in Settings.model_fields and set(app_constraints(name)) - {"type"}
    }
    assert bounded <= set(VALUE_OF_SETTING), (
        f"map these to their values: {sorted(bounded - set(VALUE_OF_SETTING))}"
    )


# Read by the load test's runner (the options of `panel-loadtest run`), not by its settings objects;
# taken from the command itself, so an option the runner gains is known here at once.
RUNNER_VARIABLES = {
    envvar
    for option in loadtest_run.params
    for envvar in ([option.envvar] if isinstance(option.envvar, str) else option.envvar or [])
}

# Where the chart's default deliberately differs from the panel's, and why.
CHART_DEFAULTS_OF_ITS_OWN = {
    "PANEL_ENV": "production: the panel then refuses development secrets",
    "TRUSTED_PROXIES": "1: the chart puts an ingress controller in front of web",
}


@pytest.mark.parametrize("setting", sorted(VALUE_OF_SETTING))
def test_chart_defaults_are_the_panels_unless_it_says_why(rendered: dict[str, str], setting: str) -> None:
    docs = rendered_docs(rendered, "defaults")
    objects = by_kind_and_name(docs)
    [(_, web, _)] = [c for c in panel_containers(docs) if c[0].endswith("-web/web")]
    environ = {v["name"]: v["value"] for v in web["env"] if "value" in v}
    environ.update(objects[("ConfigMap", "panel-config")]["data"])
    if setting not in environ:  # rendered only with other values (e.g. the SMTP port with a host)
        node: Any = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
        for key in VALUE_OF_SETTING[setting].split("."):
            node = node[key]
        environ[setting] = str(node)
    field = Settings.model_fields[setting.lower()]
    value = TypeAdapter(field.annotation).validate_python(environ[setting])
    if setting in CHART_DEFAULTS_OF_ITS_OWN:
        assert value != field.default, f"{setting}: now the panel's default; drop it from the exceptions"
    else:
        assert value == field.default, (
            f"{VALUE_OF_SETTING[setting]}: {value!r}, the panel's default is {field.default!r}"
        )


def backup_variables() -> set[str]:
    """The environment variables panel-backup reads (each field's first alias)."""
    names = set()
    for field in BackupSettings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.add(str(choices[0]))
    return names


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_backups_accept_what_the_chart_renders(
    rendered: dict[str, str], scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered_docs(rendered, scenario)
    objects = by_kind_and_name(docs)
    backups = [
        (where, container, pod)
        for doc in docs
        if doc["kind"] == "CronJob"
        for where, pod in pod_specs(doc)
        for container in pod["containers"]
        if container["name"] == "backup"
    ]
    if not backups:
        pytest.skip(f"{scenario}: no backups")
    known = backup_variables()
    for where, container, pod in backups:
        environ = container_environment(objects, pod, container, tmp_path / where.replace("/", "_"))
        unknown = sorted(
            n for n in environ if n.startswith("BACKUP_") and not {n, n.removesuffix("_FILE")} & known
        )
        assert not unknown, f"{where}: panel-backup reads no {unknown}"
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name.startswith(("BACKUP_", "AWS_")) or name == "DATABASE_URL":
                    patch.delenv(name)
            for name, value in environ.items():
                patch.setenv(name, value)
            load_backup_settings()  # raises ConfigError, one line per problem


def test_backup_values_match_what_panel_backup_allows() -> None:
    security = BackupSettings.model_fields["smtp_security"].annotation
    assert sorted(schema_at("backup.smtp.security")["enum"]) == sorted(typing.get_args(security))
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["backup"]
    for rule, default in values["retention"].items():
        assert default == BackupSettings.model_fields[f"keep_{rule}"].default, f"backup.retention.{rule}"
    assert values["smtp"]["port"] == BackupSettings.model_fields["smtp_port"].default


def camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(part.capitalize() for part in rest)


@pytest.mark.parametrize("name", sorted(Thresholds.model_fields))
def test_load_test_thresholds_are_the_load_tests_own(name: str) -> None:
    field = Thresholds.model_fields[name]
    path = f"loadtest.thresholds.{camel(name)}"
    constraints = field_constraints(field)
    assert schema_constraints(path, constraints) == constraints, (
        f"{path}: bounds differ from Thresholds.{name}"
    )
    node: Any = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for key in path.split("."):
        node = node[key]
    assert node == field.default, f"{path}: {node}, the load test's default is {field.default}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_load_test_accepts_what_the_chart_renders(
    rendered: dict[str, str], scenario: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered_docs(rendered, scenario)
    objects = by_kind_and_name(docs)
    pods = [
        (where, container, pod)
        for doc in docs
        for where, pod in pod_specs(doc)
        for container in pod["containers"]
        if container["name"] == "locust"
    ]
    if not pods:
        pytest.skip(f"{scenario}: no load test")
    for where, container, pod in pods:
        environ = container_environment(objects, pod, container, tmp_path / where.replace("/", "_"))
        unknown = sorted(
            n
            for n in environ
            if n.startswith("LOADTEST_")
            and n.removeprefix("LOADTEST_").lower()
            not in {*LoadTestSettings.model_fields, *Thresholds.model_fields}
            and n not in RUNNER_VARIABLES
            and n not in LoadTestSettings.file_variables().values()  # LOADTEST_PASSWORD_FILE
        )
        assert not unknown, f"{where}: the load test reads no {unknown}"
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("LOADTEST_") or name == "PANEL_URL":
                    patch.delenv(name)
            for name, value in environ.items():
                patch.setenv(name, value)
            settings = LoadTestSettings()
            settings.admin_password()  # the mounted secret is readable
            Thresholds()
