"""Generate charts/panel/values.schema.json from values.yaml, so the schema never lags the values, and
charts/panel/templates/_timezones.tpl (the IANA time zone names `panel.validate` accepts) from the
`tzdata` package pinned in uv.lock, so the list changes only when the lock does.

Our own objects are closed (`additionalProperties: false`: a typo such as `web.replicaCont` fails the
install); Kubernetes objects passed through verbatim (resources, probes, affinity, ...) stay open because
the API server validates them. Enumerations and patterns are listed below. `healthcheck.config` is the
exporter's own settings file, so its schema is the exporter's settings model
(panel_health.settings.HealthSettings), closed like the exporter, minus the secrets.

    uv run --frozen python ci/chart/values-schema.py           # rewrite both files
    uv run --frozen python ci/chart/values-schema.py --check   # exit 1 when one is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import tzdata
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "panel"

# Keys whose values are Kubernetes objects or free-form maps: any content.
OPEN_KEYS = {
    "podSecurityContext", "containerSecurityContext", "startupProbe", "readinessProbe",
    "livenessProbe", "affinity", "nodeSelector", "podLabels", "podAnnotations", "annotations", "labels",
    "strategy", "behavior", "extra", "commonLabels", "commonAnnotations", "tlsConfig", "lifecycleHooks",
}  # fmt: skip
OPEN_PATHS: set[str] = set()
ENUMS = {
    "healthcheck.mode": ["deployment", "sidecar"],
    "config.environment": ["development", "production", "testing"],
    "config.logLevel": ["DEBUG", "INFO", "WARNING", "ERROR"],
    "secrets.oauth.provider": ["", "google", "oidc"],
    "image.pullPolicy": ["Always", "IfNotPresent", "Never"],
    "web.service.type": ["ClusterIP", "NodePort", "LoadBalancer"],
    "metrics.serviceMonitor.scheme": ["http", "https"],
    "worker.autoscaling.queueLength.provider": ["auto", "keda", "hpa"],
    "web.service.externalTrafficPolicy": ["", "Cluster", "Local"],
    "ingress.pathType": ["Prefix", "Exact", "ImplementationSpecific"],
    "global.compatibility.openshift.adaptSecurityContext": ["auto", "force", "disabled"],
    "notifications.smtp.security": ["starttls", "tls", "none"],
    "backup.smtp.security": ["starttls", "tls", "none"],
    "config.oidcDefaultRole": ["viewer", "operator", "admin"],
}


def closed_list(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A list of objects with only these keys (a typo in a key is refused)."""
    item: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        item["required"] = required
    return {"type": "array", "items": item}


# JSON-schema keywords of pydantic's output that Helm's validators need not see (titles, docs, defaults,
# string formats such as `path` that they do not know).
PYDANTIC_NOISE = {"title", "description", "default", "format", "writeOnly"}
# Settings the chart gives the exporter through its environment, which wins over the file: the URLs
# (`healthcheck.publicUrl` sets the public one) and the credentials, which arrive as `*_FILE` from Secrets
# and in the ConfigMap would be plain configuration. The schema refuses them in `healthcheck.config`.
EXPORTER_FROM_ENVIRONMENT = ("panel_url", "panel_public_url", "database_url", "redis_url")


def exporter_config_schema() -> dict[str, Any]:
    """The schema of `healthcheck.config`: the exporter's settings model with its references inlined
    (the chart's schema stays one self-contained document)."""
    from panel_health.settings import HealthSettings

    schema = HealthSettings.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any, names: bool = False) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if names:  # the keys of `properties` are setting names, not keywords
            return {name: inline(item) for name, item in node.items()}
        if "$ref" in node:
            return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
        return {
            key: inline(item, names=key == "properties")
            for key, item in node.items()
            if key not in PYDANTIC_NOISE
        }

    closed: dict[str, Any] = inline(schema)
    for name in EXPORTER_FROM_ENVIRONMENT:
        del closed["properties"][name]
    return closed


CIDR = {"type": "string", "pattern": "^[0-9a-fA-F.:]+/[0-9]{1,3}$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def number(minimum: float, maximum: float | None = None, *, exclusive: bool = False) -> dict[str, Any]:
    """A number in the app's bounds (services/panel/src/panel/settings.py); `exclusive`: above minimum."""
    schema: dict[str, Any] = {"type": "number", "exclusiveMinimum" if exclusive else "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def integer(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


OVERRIDES: dict[str, dict[str, Any]] = {
    "healthcheck.config": exporter_config_schema(),
    "config.url": {"type": "string", "pattern": "^(https?://.+)?$"},
    "healthcheck.publicUrl": {"type": "string", "pattern": "^(https://[^/?#]+.*)?$"},
    # Anchors are appended: no fragment of its own.
    "healthcheck.prometheusRule.runbookBaseUrl": {
        "type": "string",
        "pattern": "^(https?://[^/?#\\s]+[^#\\s]*)?$",
    },
    "metrics.port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "loadtest.excludeTags": {"type": "string", "pattern": "^(auto|[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*)?$"},
    "web.service.nodePorts.http": {"type": "integer", "minimum": 0, "maximum": 65535},
    "backup.target": {"type": "string", "pattern": "^(s3|file)://.+"},
    "web.autoscaling.minReplicas": {"type": "integer", "minimum": 1},
    "worker.autoscaling.minReplicas": {"type": "integer", "minimum": 1},
    "worker.autoscaling.queueLength.targetPerReplica": {"type": "integer", "minimum": 1},
    "extraDeploy": {"type": "array", "items": {"type": ["object", "string"]}},
    "httpRoute.hostnames": {"type": "array", "items": {"type": "string"}},
    "ingress.extraHosts": closed_list(
        {
            "name": {"type": "string", "minLength": 1},
            "path": {"type": "string"},
            "pathType": {"type": "string", "enum": ["Prefix", "Exact", "ImplementationSpecific"]},
        },
        required=["name"],
    ),
    # Panel settings with the bounds the app enforces (tests/chart/test_chart_app_settings.py compares them).
    "config.dbPoolSize": integer(1),
    "config.dbMaxOverflow": integer(0),
    "config.trustedProxies": integer(0, 5),
    "web.concurrency": integer(1),
    "web.threads": integer(1),
    "config.trustedProxyNetworks": {
        "type": "array",
        "items": {"type": "string", "pattern": "^[0-9a-fA-F.:]+(/[0-9]{1,3})?$"},
    },
    "config.redisTimeoutSeconds": number(0, 30, exclusive=True),
    "config.redisBreakerSeconds": number(0, 300),
    "config.tokens.accessTtlSeconds": integer(30),
    "config.tokens.refreshTtlSeconds": integer(60),
    "config.checks.intervalSeconds": integer(0),
    "config.checks.timeoutSeconds": number(0, exclusive=True),
    "config.checks.concurrency": integer(1, 5000),
    "config.checks.historyDays": integer(1),
    "config.login.rateLimit": integer(1),
    "config.login.rateWindowSeconds": integer(1),
    "config.login.addressLimit": integer(1),
    "config.login.userFreeFailures": integer(0),
    "config.login.userMaxDelaySeconds": integer(1),
    "config.uiRefreshSeconds": number(0, 3600),
    "notifications.failuresBeforeDown": integer(1, 1000),
    "notifications.timeoutSeconds": number(0, 120, exclusive=True),
    "notifications.smtp.host": {"type": "string", "pattern": "^[A-Za-z0-9.:-]*$"},
    "notifications.smtp.port": PORT,
    # An address, optionally with a display name; one header line.
    "notifications.smtp.from": {"type": "string", "pattern": "^([^\\r\\n]*@[^\\r\\n]*)?$"},
    "networkPolicy.notifications.smtp.cidrs": {"type": "array", "items": CIDR},
    # The load test's SLO gate, in panel_loadtest.settings.Thresholds' bounds.
    "loadtest.thresholds.maxAvgMs": number(0, exclusive=True),
    "loadtest.thresholds.maxP95Ms": number(0, exclusive=True),
    "loadtest.thresholds.maxP99Ms": number(0, exclusive=True),
    "loadtest.thresholds.maxErrorRate": number(0, 1),
    "loadtest.thresholds.minRps": number(0),
    "loadtest.thresholds.minRpsUsers": {"type": "integer", "exclusiveMinimum": 0},
    "loadtest.thresholds.stressMinUsers": integer(0),
    "loadtest.thresholds.maxRequestMs": number(0, exclusive=True),
    "loadtest.thresholds.maxSuccessGapS": number(0),
    "networkPolicy.s3.ports": {"type": "array", "items": PORT},
    "networkPolicy.smtp.ports": {"type": "array", "items": PORT},
    "backup.smtp.port": PORT,
    "backup.retention.last": integer(0),
    "backup.retention.daily": integer(0),
    "backup.retention.weekly": integer(0),
    "backup.retention.monthly": integer(0),
    "networkPolicy.notifications.webhooks": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string", "pattern": "^https?://[^/?#]+"},
                "cidrs": {"type": "array", "minItems": 1, "items": CIDR},
                "ports": {"type": "array", "minItems": 1, "items": PORT},
            },
            # A receiver's URL, or where receivers are and on which ports (an empty list would allow all).
            "anyOf": [{"required": ["url"]}, {"required": ["cidrs", "ports"]}],
        },
    },
    "ingress.extraTls": closed_list(
        {"hosts": {"type": "array", "items": {"type": "string"}}, "secretName": {"type": "string"}}
    ),
}

# Rules for a key wherever it appears (every image's digest, every component's resources, ...).
KEY_SCHEMAS: dict[str, dict[str, Any]] = {
    "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
    "command": {"type": "array", "items": {"type": "string"}},
    "ipFamilyPolicy": {"type": "string", "enum": ["", "SingleStack", "PreferDualStack", "RequireDualStack"]},
    "ipFamilies": {"type": "array", "maxItems": 2, "uniqueItems": True, "items": {"enum": ["IPv4", "IPv6"]}},
    "loadBalancerSourceRanges": {
        "type": "array",
        "items": {"type": "string", "pattern": "^[0-9a-fA-F.:]+/[0-9]{1,3}$"},
    },
    # Kubernetes quantities by resource name; `limit` or `request` (typos) are refused.
    "resources": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "requests": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            "limits": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            "claims": {"type": "array", "items": {"type": "object"}},
        },
    },
    # EnvVar items: a name, and a value or valueFrom.
    "extraEnv": closed_list(
        {
            "name": {"type": "string", "minLength": 1},
            "value": {"type": "string"},
            "valueFrom": {"type": "object"},
        },
        required=["name"],
    ),
    # A PDB's maxUnavailable: at least 1 (or 1-100 %); 0 would block every node drain.
    "maxUnavailable": {
        "anyOf": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "pattern": "^([1-9][0-9]?|100)%$"},
        ]
    },
    "accessModes": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "string",
            "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"],
        },
    },
}


def schema_of(value: Any, path: str) -> dict[str, Any]:
    key = path.rsplit(".", 1)[-1]
    if path in OVERRIDES:
        return OVERRIDES[path]
    if path in ENUMS:
        return {"type": "string", "enum": ENUMS[path]}
    if key in KEY_SCHEMAS:
        return KEY_SCHEMAS[key]
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        if value and all(isinstance(item, str) for item in value):
            return {"type": "array", "items": {"type": "string"}}
        if value and all(isinstance(item, int) for item in value):
            return {"type": "array", "items": {"type": "integer"}}
        return {"type": "array", "items": {"type": "object"}}
    if isinstance(value, dict):
        if key in OPEN_KEYS or path in OPEN_PATHS:
            return {"type": "object"}
        properties = {
            name: schema_of(item, f"{path}.{name}" if path else name) for name, item in value.items()
        }
        return {"type": "object", "additionalProperties": False, "properties": properties}
    sys.exit(f"error: values.yaml key {path} is null; give it a typed default")


def render() -> str:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Panel chart values"}
    schema.update(schema_of(values, ""))
    return json.dumps(schema, indent=2) + "\n"


# Names in tzdata's list that are not places: Kubernetes would accept them, nobody means them.
NOT_TIME_ZONES = {"Factory"}


def render_time_zones() -> str:
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    names = sorted(set(names) - NOT_TIME_ZONES)
    return (
        "{{/*\n"
        f"panel.validate.timeZones: the {len(names)} IANA time zone names of tzdata "
        f"{tzdata.IANA_VERSION}, one\nper line, for panel.validate. Generated by ci/chart/values-schema.py "
        "from the tzdata package in\nuv.lock; do not edit.\n"
        "*/}}\n"
        '{{- define "panel.validate.timeZones" -}}\n' + "\n".join(names) + "\n{{- end -}}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    args = parser.parse_args()
    outputs = {
        CHART_DIR / "values.schema.json": render(),
        CHART_DIR / "templates" / "_timezones.tpl": render_time_zones(),
    }
    if args.check:
        stale = [str(path) for path, text in outputs.items() if not path.exists() or path.read_text() != text]
        if stale:
            sys.exit(f"{', '.join(stale)} out of date; fix: uv run --frozen python ci/chart/values-schema.py")
        return
    for path, text in outputs.items():
        path.write_text(text)


if __name__ == "__main__":
    main()
