#!/usr/bin/env bash
# Builds the four Panel images (panel, backup, healthcheck, loadtest) with podman, tagged with the
# project version, and prints their sizes. No Docker engine and no image registry are needed.
#
#   ci/images.sh                    # build all four on the locally made base (what CI and tests use)
#   ci/images.sh panel backup       # build only these
#   PANEL_IMAGE_BASE=official ci/images.sh   # build on the pinned official python slim image (needs a registry)
#
# Settings (environment):
#   PANEL_IMAGE_BASE       local (default): a Debian bookworm + Python 3.11 root filesystem made once per
#                          machine with debootstrap and imported as localhost/panel-base:bookworm-py311;
#                          official: the Dockerfiles' pinned defaults (python:3.11-slim-bookworm, uv image).
#   PANEL_IMAGE_REGISTRY   registry/namespace prefix of the tags (default ghcr.io/panel-project, as the chart)
#   PANEL_BUILD_CA_BUNDLE  CA bundle mounted read-only over the build's /etc/ssl/certs/ca-certificates.crt,
#                          for networks behind a TLS-intercepting (corporate) proxy. Defaults to the host's
#                          bundle when it exists; set it to "none" to build with the base image's own CAs.
#   (No package-index setting: `uv sync --frozen` downloads the exact file URLs in uv.lock, so an index
#   mirror would be ignored; behind a proxy, the CA bundle above is what the build needs.)
#   PANEL_BACKUP_PG_MAJOR  PostgreSQL client major of the backup image (default 15)
#   PANEL_BACKUP_PG_APT    where the backup image gets that client: debian (default here: bookworm's own
#                          postgresql-client-15, reachable through any Debian mirror) or pgdg
#                          (apt.postgresql.org, any supported major).
#
# Needs podman, runc and (for the local base) debootstrap; as root it installs them with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_MODE="${PANEL_IMAGE_BASE:-local}"
REGISTRY="${PANEL_IMAGE_REGISTRY:-ghcr.io/panel-project}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)"
UV_VERSION="0.13.9"
LOCAL_BASE="localhost/panel-base:bookworm-py311"
LOCAL_UV="localhost/panel-uv:${UV_VERSION}"
ROOTFS_CACHE="${PANEL_IMAGE_CACHE:-/var/cache/panel-images}"
DEBIAN_MIRROR="${PANEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ALL_IMAGES=(panel backup healthcheck loadtest)
# podman's default ulimits exceed what an unprivileged build container may set on some hosts, and crun
# refuses hybrid cgroup setups: runc with explicit limits works everywhere we tried.
RUNTIME_FLAGS=(--runtime runc --ulimit nofile=1024:20000 --ulimit nproc=4096:4096)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'error: %s\n' "$*" >&2; exit 2; }

ensure_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  if [[ "$BASE_MODE" == local ]] && ! command -v debootstrap >/dev/null; then missing+=(debootstrap); fi
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian bookworm + its Python 3.11 (/usr/bin/python3, venv but no pip), made once per machine.
ensure_local_base() {
  podman image exists "$LOCAL_BASE" && return 0
  local rootfs="$ROOTFS_CACHE/rootfs-bookworm-py311"
  if [[ ! -x "$rootfs/usr/bin/python3" ]]; then
    [[ $(id -u) -eq 0 ]] || die "making the base image needs root (debootstrap); run: sudo $0"
    log "debootstrap bookworm into $rootfs (about a minute)"
    rm -rf "$rootfs.partial"
    mkdir -p "$ROOTFS_CACHE"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs.partial" "$DEBIAN_MIRROR" >"$ROOTFS_CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $ROOTFS_CACHE/debootstrap.log"
    rm -rf "$rootfs.partial/var/cache/apt/archives/"*.deb "$rootfs.partial/var/lib/apt/lists/"*
    mv "$rootfs.partial" "$rootfs"
  fi
  log "importing $rootfs as $LOCAL_BASE"
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
}

# The Dockerfiles copy uv from its official image; without a registry the same uv release is taken from
# its PyPI wheel (a package index is reachable where a registry may not be).
ensure_local_uv() {
  podman image exists "$LOCAL_UV" && return 0
  local work
  work="$(mktemp -d)"
  log "making $LOCAL_UV from the uv $UV_VERSION wheel"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "uv==$UV_VERSION" \
    || { rm -rf "$work"; die "could not download the uv $UV_VERSION wheel from the package index"; }
  mkdir "$work/root"
  (cd "$work" && python3 -m zipfile -e uv-*.whl unpacked)
  install -m 0755 "$work"/unpacked/uv-*.data/scripts/uv "$work"/unpacked/uv-*.data/scripts/uvx "$work/root/"
  tar -C "$work/root" -c . | podman import - "$LOCAL_UV" >/dev/null
  rm -rf "$work"
}

build_image() {
  local name="$1" tag="$REGISTRY/$1:$VERSION"
  # docker format keeps SHELL (pipefail) and HEALTHCHECK, which the OCI format drops.
  local args=(--file "docker/$name.Dockerfile" --tag "$tag" --format docker --network host "${RUNTIME_FLAGS[@]}")
  if [[ "$BASE_MODE" == local ]]; then
    args+=(--build-arg "PYTHON_IMAGE=$LOCAL_BASE" --build-arg "UV_IMAGE=$LOCAL_UV")
  fi
  local ca="${PANEL_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
  if [[ "$ca" != none && -f "$ca" ]]; then
    args+=(--volume "$(realpath "$ca"):/etc/ssl/certs/ca-certificates.crt:ro")
  fi
  if [[ "$name" == backup ]]; then
    local pg_major="${PANEL_BACKUP_PG_MAJOR:-15}" pg_apt
    pg_apt="${PANEL_BACKUP_PG_APT:-$([[ $BASE_MODE == local ]] && echo debian || echo pgdg)}"
    if [[ "$pg_apt" == debian && "$pg_major" != 15 ]]; then
      usage_error "Debian bookworm carries only postgresql-client-15; for PANEL_BACKUP_PG_MAJOR=$pg_major set PANEL_BACKUP_PG_APT=pgdg (needs apt.postgresql.org)"
    fi
    args+=(--build-arg "PG_MAJOR=$pg_major" --build-arg "PG_APT_SOURCE=$pg_apt")
  fi
  log "building $tag"
  local started=$SECONDS
  podman build "${args[@]}" . >&2 || die "building $tag failed (see the output above)"
  log "built $tag in $((SECONDS - started)) s"
}

main() {
  case "$BASE_MODE" in local | official) ;; *) usage_error "PANEL_IMAGE_BASE must be local or official, not '$BASE_MODE'" ;; esac
  local images=("$@")
  ((${#images[@]})) || images=("${ALL_IMAGES[@]}")
  for name in "${images[@]}"; do
    [[ -f "docker/$name.Dockerfile" ]] || usage_error "no docker/$name.Dockerfile (images: ${ALL_IMAGES[*]})"
  done
  ensure_tools
  if [[ "$BASE_MODE" == local ]]; then
    ensure_local_base
    ensure_local_uv
  fi
  local started=$SECONDS
  for name in "${images[@]}"; do build_image "$name"; done
  log "all built in $((SECONDS - started)) s"
  printf '%-45s %s\n' IMAGE SIZE
  for name in "${images[@]}"; do
    printf '%-45s %s\n' "$REGISTRY/$name:$VERSION" \
      "$(podman image inspect --format '{{.Size}}' "$REGISTRY/$name:$VERSION" | numfmt --to=si --suffix=B)"
  done
}

main "$@"
