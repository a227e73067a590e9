#!/usr/bin/env bash
# Builds a local Kubernetes control plane from Go modules (no release downloads reach this machine):
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok/kwokctl, and the node's kubelet and
# kube-proxy (same throw-away module and Go build cache, so they only add the node-only packages).
# Binaries are cached outside the repo, keyed by version, so only the first run on a machine is slow.
#   usage: ci/cluster/build.sh            -> prints the bin directory
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${PANEL_TOOLS_CACHE:-$HOME/.cache/panel-tools}"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
# Two cores: keep one free for whatever else runs.
export GOMAXPROCS="${GOMAXPROCS:-2}"

log() { echo "==> $*" >&2; }

build_kubernetes() {
  local out="$CACHE/kubernetes-$KUBE_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kube-scheduler" \
        && -x "$out/kubelet" && -x "$out/kube-proxy" ]]; then
    echo "$out"; return
  fi
  log "building Kubernetes $KUBE_VERSION control plane (cold build: tens of minutes on 2 cores)"
  local mod; mod="$(mktemp -d)"
  (
    cd "$mod"
    go mod init panel.local/kube-build >/dev/null 2>&1
    local src; src="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"; local patch="${KUBE_VERSION##*.}"
    # k8s.io/kubernetes points its staging modules at ./staging; use their published v0.x.y instead.
    grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$src/go.mod" | awk '{print $1}' | while read -r staging; do
      go mod edit -replace "$staging=$staging@v0.$minor.$patch"
    done
    go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
    printf 'package main\nimport (\n_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n_ "k8s.io/kubernetes/cmd/kubelet/app"\n_ "k8s.io/kubernetes/cmd/kube-proxy/app"\n)\nfunc main() {}\n' >tools.go
    go mod tidy >/dev/null 2>&1 || true
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    mkdir -p "$out.tmp"
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
      log "  go build $cmd"
      go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$mod" "$out"; mv "$out.tmp" "$out"
  echo "$out"
}

build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then echo "$out"; return; fi
  log "building etcd $ETCD_VERSION"
  local mod; mod="$(mktemp -d)"
  (
    cd "$mod"
    go mod init panel.local/etcd-build >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
    printf 'package main\nimport "go.etcd.io/etcd/server/v3/etcdmain"\nimport "os"\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
    go mod tidy >/dev/null 2>&1
    mkdir -p "$out.tmp"
    go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" .
  )
  rm -rf "$mod" "$out"; mv "$out.tmp" "$out"
  echo "$out"
}

build_kwok() {
  local out="$CACHE/kwok-$KWOK_VERSION"
  if [[ -x "$out/kwok" && -x "$out/kwokctl" ]]; then echo "$out"; return; fi
  log "building kwok $KWOK_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "$out"
}

mkdir -p "$CACHE"
bin="$CACHE/cluster-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
if [[ ! -d "$bin" ]]; then
  k8s="$(build_kubernetes)"; etcd="$(build_etcd)"; kwok="$(build_kwok)"
  mkdir -p "$bin.tmp"
  ln -sf "$k8s"/* "$etcd"/* "$kwok"/* "$bin.tmp/"
  rm -rf "$bin"; mv "$bin.tmp" "$bin"
fi
echo "$bin"
