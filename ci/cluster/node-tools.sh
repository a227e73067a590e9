#!/usr/bin/env bash
# Builds what a REAL one-node cluster needs besides the control plane, kubelet and kube-proxy (those come
# from ci/cluster/build.sh), from the Go module proxy (no release downloads reach this machine), and
# installs the node's Debian packages (runc with seccomp, the CNI plugins, iptables, conntrack, ipset).
#
#   ci/cluster/node-tools.sh          -> prints the bin directory (every binary below, as symlinks)
#
#   containerd, containerd-shim-runc-v2, ctr   github.com/containerd/containerd/v2 (cgo off: no btrfs)
#   crictl                                     sigs.k8s.io/cri-tools
#   coredns                                    github.com/coredns/coredns, trimmed plugin set (src/coredns)
#   pause                                      the pod sandbox process (src/pause), imported as pause:3.10
#   metrics-server                             sigs.k8s.io/metrics-server (resource metrics for the HPA)
#   kube-router                                github.com/cloudnativelabs/kube-router (NetworkPolicy only)
#
# Every piece is cached under $PANEL_TOOLS_CACHE/<name>-<version>/ like build.sh, so a version bump
# rebuilds only that piece and a warm run only checks that the files exist.
# runc and the CNI plugins come from Debian: a CGO_ENABLED=0 runc would have no seccomp support.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.9.0}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
CACHE="${PANEL_TOOLS_CACHE:-$HOME/.cache/panel-tools}"
# PARALLEL pieces build side by side into the shared, concurrency-safe Go build cache (the links and the
# module downloads of one overlap the compiles of the other), each with every core unless told otherwise.
PARALLEL="${PANEL_NODE_TOOLS_PARALLEL:-2}"
export PATH="$PATH:/usr/local/go/bin" GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
export GOMAXPROCS="${GOMAXPROCS:-$(nproc)}"

# Debian packages of the node: binary that proves it is installed -> package.
declare -A APT_PACKAGES=(
  [/usr/sbin/runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [/usr/sbin/iptables]=iptables
  [/usr/sbin/conntrack]=conntrack
  [/usr/sbin/ipset]=ipset
  [/usr/bin/podman]=podman
)

log() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

ensure_packages() {
  local missing=() binary
  for binary in "${!APT_PACKAGES[@]}"; do
    [[ -x "$binary" ]] || missing+=("${APT_PACKAGES[$binary]}")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages ${missing[*]}; fix: sudo apt-get install -y ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# cached NAME KEY BINARY... : print the piece's dir and succeed when it holds every BINARY.
cached() {
  local dir="$CACHE/$1-$2" binary; shift 2
  for binary in "$@"; do [[ -x "$dir/$binary" ]] || return 1; done
  echo "$dir"
}

# go_install NAME VERSION LDFLAGS PACKAGE@VERSION... : go install into the piece's dir.
go_install() {
  local name="$1" version="$2" ldflags="$3"; shift 3
  local dir="$CACHE/$name-$version" started=$SECONDS
  log "building $name $version"
  rm -rf "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w $ldflags" "$@" >&2
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  log "built $name in $((SECONDS - started)) s"
  echo "$dir"
}

# module_build NAME KEY SRC_DIR [MODULE@VERSION]: our own main package (SRC_DIR) in a throw-away module,
# built into the piece's dir NAME-KEY. KEY includes a hash of the source, so editing it rebuilds.
module_build() {
  local name="$1" key="$2" src="$3" requirement="${4:-}"
  local dir="$CACHE/$name-$key" started=$SECONDS mod
  log "building $name $key"
  mod="$(mktemp -d)"
  (
    cd "$mod"
    cp "$src"/*.go .
    go mod init "panel.local/$name-build" >/dev/null 2>&1
    if [[ -n "$requirement" ]]; then go get "$requirement" >/dev/null 2>&1; fi
    go mod tidy >/dev/null 2>&1
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
    go build -trimpath -ldflags "-s -w" -o "$dir.tmp/$name" . >&2
  ) || { rm -rf "$mod"; die "building $name $key failed"; }
  rm -rf "$mod" "$dir"; mv "$dir.tmp" "$dir"
  log "built $name in $((SECONDS - started)) s"
  echo "$dir"
}

source_hash() { cat "$here/src/$1"/*.go | sha256sum | cut -c1-8; }

containerd() {
  cached containerd "$CONTAINERD_VERSION" containerd containerd-shim-runc-v2 ctr && return
  # no_btrfs: the btrfs snapshotter needs cgo; urfave_cli_no_docs drops the man-page generator.
  go_install containerd "$CONTAINERD_VERSION" \
    "-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    -tags 'urfave_cli_no_docs no_btrfs' \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
}

crictl() {
  cached crictl "$CRICTL_VERSION" crictl && return
  go_install crictl "$CRICTL_VERSION" "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

metrics_server() {
  cached metrics-server "$METRICS_SERVER_VERSION" metrics-server && return
  go_install metrics-server "$METRICS_SERVER_VERSION" \
    "-X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
}

kube_router() {
  cached kube-router "$KUBE_ROUTER_VERSION" kube-router && return
  go_install kube-router "$KUBE_ROUTER_VERSION" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
}

coredns() {
  local key; key="$COREDNS_VERSION-$(source_hash coredns)"
  cached coredns "$key" coredns && return
  module_build coredns "$key" "$here/src/coredns" "github.com/coredns/coredns@$COREDNS_VERSION"
}

pause() {
  local key; key="3.10-$(source_hash pause)"
  cached pause "$key" pause && return
  module_build pause "$key" "$here/src/pause"
}

command -v go >/dev/null || die "go is not installed; fix: install Go >= 1.26 (/usr/local/go/bin on PATH)"
ensure_packages
mkdir -p "$CACHE"
# One builder per cache at a time: a second caller waits instead of racing on the same .tmp dirs.
exec 9>"$CACHE/.node-tools.lock"
flock 9

key="containerd-$CONTAINERD_VERSION-crictl-$CRICTL_VERSION-coredns-$COREDNS_VERSION"
key+="-metrics-server-$METRICS_SERVER_VERSION-kube-router-$KUBE_ROUTER_VERSION"
key+="-src-$(source_hash coredns)$(source_hash pause)"
bin="$CACHE/node-$key"
if [[ ! -d "$bin" ]]; then
  dirs="$(mktemp -d)"
  trap 'rm -rf "$dirs"' EXIT
  running=0 failed=0
  # Longest first, so that the two lanes end together.
  for piece in metrics_server containerd kube_router coredns crictl pause; do
    if ((running >= PARALLEL)); then
      wait -n || failed=1
      running=$((running - 1))
    fi
    ("$piece" >"$dirs/$piece") &
    running=$((running + 1))
  done
  while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
  done
  ((failed == 0)) || die "a node tool failed to build (its output is above); fix the cause and run $0 again"
  rm -rf "$bin.tmp"; mkdir -p "$bin.tmp"
  for piece in "$dirs"/*; do ln -sf "$(cat "$piece")"/* "$bin.tmp/"; done
  rm -rf "$bin"; mv "$bin.tmp" "$bin"
fi
echo "$bin"
