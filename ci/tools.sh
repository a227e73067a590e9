#!/usr/bin/env bash
# Installs the test toolchain, pinned by version, into a cache OUTSIDE the repository.
#
#   ci/tools.sh            build/install what is missing, then print NAME=/abs/path lines on stdout
#   PANEL_TOOLS_CACHE=dir  where the tools live (default: ~/.cache/panel-tools)
#   PANEL_TOOLS_JOBS=n     Go compile jobs per build (default: every core; lower it on a busy machine)
#   PANEL_TOOLS_PARALLEL=n how many independent tools build at the same time (default 2: while one links,
#                          single-threaded, the other compiles)
#
# Every tool lives in <cache>/<name>-<version>/, so bumping a version below builds the new one next to the
# old one and a second run with the same versions only checks that the files exist (well under a second).
# Release binaries cannot be downloaded in our CI, so the Go tools are compiled from their modules
# through the Go module proxy and checkov is installed from PyPI into its own virtualenv.
# Progress goes to stderr; stdout carries only the NAME=path lines (tests/chart and tests/support parse them).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${PANEL_TOOLS_CACHE:-$HOME/.cache/panel-tools}"
JOBS="${PANEL_TOOLS_JOBS:-$(nproc)}"
PARALLEL="${PANEL_TOOLS_PARALLEL:-2}"

HELM3_VERSION="v3.22.0"
HELM3_KUBE_MINOR="37"          # client-go v0.37 in Helm v3.22.0's go.mod: what `make build` would stamp
HELM4_VERSION="v4.3.1"
CT_VERSION="v3.14.0"
KUBECONFORM_VERSION="v0.7.0"
KUBE_SCORE_VERSION="v1.20.0"
HELM_UNITTEST_VERSION="v1.0.1"  # last tag whose go.mod has no `replace` (go install refuses those)
# The public checksum database does not know this tag (lookup returns 404), so the module hash is
# pinned here instead and checked before anything is built from it.
HELM_UNITTEST_SUM="h1:Mqb7hxZ7TTzSEFi2T5BVPbdKDm4sHWEaWSDBO2SHGdg="
HELM_DOCS_VERSION="v1.14.2"
CHECKOV_VERSION="3.3.30"
PROMETHEUS_OPERATOR_VERSION="v0.85.0"  # source of the ServiceMonitor / PrometheusRule CRDs
CERT_MANAGER_VERSION="v1.21.2"         # source of the Certificate CRD
GATEWAY_API_VERSION="v1.6.0"           # source of the HTTPRoute CRD (v1.7 needs Go 1.27)
KEDA_VERSION="v2.21.0"                 # source of the ScaledObject CRD
VERSITYGW_VERSION="v1.8.0"             # a real S3 gateway over a folder: the backup suite's second S3 server

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not installed; fix: install Go >= 1.26 and put it on PATH (the Makefile adds /usr/local/go/bin; see README.md, 'Two commands')"
command -v uv >/dev/null || die "uv is not installed; fix: run 'make setup'"

mkdir -p "$CACHE"
# One installer at a time per cache: pytest sessions started in parallel wait instead of racing.
exec 9>"$CACHE/.lock"
flock 9

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOMAXPROCS="${GOMAXPROCS:-$JOBS}"

# go_tool NAME VERSION PACKAGE [LDFLAGS]: go install PACKAGE@VERSION into <cache>/NAME-VERSION/bin.
go_tool() {
  local name="$1" version="$2" package="$3" ldflags="${4:-}"
  local dir="$CACHE/$name-$version" binary
  binary="$(basename "$package")"
  if [[ ! -x "$dir/bin/$binary" ]]; then
    log "building $name $version (go install $package@$version)"
    local started=$SECONDS
    rm -rf "$dir.partial"
    GOBIN="$dir.partial/bin" go install -trimpath -p "$JOBS" -ldflags "-s -w $ldflags" "$package@$version" >&2
    rm -rf "$dir" && mv "$dir.partial" "$dir"
    log "built $name in $((SECONDS - started))s"
  fi
  printf '%s=%s\n' "$name" "$dir/bin/$binary"
}

# go_module_dir MODULE VERSION: download a Go module (source only) and print its directory.
go_module_dir() {
  go mod download -json "$1@$2" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'
}

# The independent Go tools build side by side (PARALLEL at a time, into a shared, concurrency-safe Go
# build cache); each writes its NAME=path line into its own file, printed in this order at the end.
lines="$(mktemp -d)"
trap 'rm -rf "$lines"' EXIT
running=0
failed=0
in_background() {  # in_background NAME COMMAND...: run one tool's install, at most PARALLEL at once
  local name="$1"; shift
  if ((running >= PARALLEL)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
  ("$@" >"$lines/$name") &
  running=$((running + 1))
}

in_background helm3 go_tool helm3 "$HELM3_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM3_KUBE_MINOR \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM3_KUBE_MINOR"
in_background helm4 go_tool helm4 "$HELM4_VERSION" helm.sh/helm/v4/cmd/helm "-X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION"
in_background kubeconform go_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform
in_background kube-score go_tool kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score
in_background helm-docs go_tool helm-docs "$HELM_DOCS_VERSION" github.com/norwoodj/helm-docs/cmd/helm-docs
in_background versitygw go_tool versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw

helm_unittest() {
  local unittest_dir="$CACHE/helm-unittest-$HELM_UNITTEST_VERSION" sum
  if [[ ! -x "$unittest_dir/bin/helm-unittest" ]]; then
    sum="$(GONOSUMDB=github.com/helm-unittest go mod download -json \
      "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION" | sed -n 's/^\s*"Sum": "\(.*\)",$/\1/p')"
    [[ "$sum" == "$HELM_UNITTEST_SUM" ]] || die "helm-unittest $HELM_UNITTEST_VERSION hash is '$sum', pinned '$HELM_UNITTEST_SUM'"
  fi
  GONOSUMDB=github.com/helm-unittest go_tool helm-unittest "$HELM_UNITTEST_VERSION" \
    github.com/helm-unittest/helm-unittest/cmd/helm-unittest
}
in_background helm-unittest helm_unittest

# chart-testing: `go install ct@v3.14.0` fails here, because go install first reads the module's version
# list for deprecation notices and the proxy answers 403 for it. A throw-away module that requires the
# exact version never asks for the list. Its config files (chart_schema.yaml, lintconf.yaml) are our own,
# in ci/chart/.
chart_testing() {
  local ct_dir="$CACHE/ct-$CT_VERSION" started
  if [[ ! -x "$ct_dir/bin/ct" ]]; then
    log "building ct $CT_VERSION (throw-away module + go build)"
    started=$SECONDS
    rm -rf "$ct_dir.partial" && mkdir -p "$ct_dir.partial/module"
    (
      cd "$ct_dir.partial/module"
      go mod init panel-tools/ct >&2 2>/dev/null
      go mod edit -require="github.com/helm/chart-testing/v3@$CT_VERSION"
      go build -trimpath -p "$JOBS" -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$CT_VERSION" \
        -o ../bin/ct github.com/helm/chart-testing/v3/ct >&2
    )
    rm -rf "$ct_dir.partial/module" "$ct_dir" && mv "$ct_dir.partial" "$ct_dir"
    log "built ct in $((SECONDS - started))s"
  fi
  printf 'ct=%s\n' "$ct_dir/bin/ct"
}
in_background ct chart_testing

checkov() {
  local checkov_dir="$CACHE/checkov-$CHECKOV_VERSION"
  if [[ ! -x "$checkov_dir/bin/checkov" ]]; then
    log "installing checkov $CHECKOV_VERSION from PyPI into its own virtualenv"
    rm -rf "$checkov_dir.partial"
    uv venv --quiet --python "$(command -v python3)" "$checkov_dir.partial" >&2
    VIRTUAL_ENV="$checkov_dir.partial" uv pip install --quiet "checkov==$CHECKOV_VERSION" >&2
    rm -rf "$checkov_dir" && mv "$checkov_dir.partial" "$checkov_dir"
    # The virtualenv's scripts carry the .partial path in their shebang; call checkov through its python.
  fi
  printf 'checkov-python=%s\n' "$checkov_dir/bin/python"
}
in_background checkov checkov

while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
((failed == 0)) || die "a tool failed to build (its output is above); fix the cause and run ci/tools.sh again"
cat "$lines"/helm3 "$lines"/helm4 "$lines"/kubeconform "$lines"/kube-score "$lines"/helm-docs "$lines"/versitygw \
  "$lines"/helm-unittest "$lines"/ct "$lines"/checkov

# Kubernetes JSON schemas (1.30-1.37) from the kubernetes-validate wheel + CRD schemas, kubeconform layout.
kv_version="$(cd "$REPO_ROOT" && uv run --frozen python -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')"
script_hash="$(sha256sum "$REPO_ROOT/ci/kube-schemas.py" | cut -c1-12)"
schema_dir="$CACHE/kube-schemas-$kv_version-po$PROMETHEUS_OPERATOR_VERSION-cm$CERT_MANAGER_VERSION-gw$GATEWAY_API_VERSION-keda$KEDA_VERSION-$script_hash"
if [[ ! -f "$schema_dir/.complete" ]]; then
  log "converting Kubernetes schemas (kubernetes-validate $kv_version) and CRDs for kubeconform"
  po_dir="$(go_module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")"
  cm_dir="$(go_module_dir github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION")"
  gw_dir="$(go_module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"
  keda_dir="$(go_module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")"
  rm -rf "$schema_dir"
  (cd "$REPO_ROOT" && uv run --frozen python ci/kube-schemas.py --out "$schema_dir" \
    --crd "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    --crd "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    --crd "$cm_dir/deploy/crds/cert-manager.io_certificates.yaml" \
    --crd "$gw_dir/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" \
    --crd "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml") >&2
  touch "$schema_dir/.complete"
fi
printf 'kube-schemas=%s\n' "$schema_dir"
