#!/usr/bin/env bash
# Builds the four Panel images (panel, backup, healthcheck, loadtest) with podman, tagged with the
# project version, and prints their sizes. No Docker engine and no image registry are needed.
#
#   ci/images.sh                    # build all four on the locally made base (what CI and tests use)
#   ci/images.sh panel backup       # build only these
#   ci/images.sh --tags NAME...     # print the tags those names get (nothing is built)
#   ci/images.sh node-postgres node-redis   # the test node's PostgreSQL 17 and Redis stand-ins for the
#                                   # chart's bundled StatefulSets (localhost/panel-node/*; local base only)
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
#   PANEL_BACKUP_PG_MAJOR  PostgreSQL client major of the backup image (default 17, the chart's bundled
#                          PostgreSQL: pg_dump must be at least the server's major)
#   PANEL_BACKUP_PG_APT    where the backup image gets that client: debian-trixie (default for the local
#                          base: Debian trixie's own client 17, reachable through any Debian mirror), debian
#                          (bookworm's own, 15 only) or pgdg (apt.postgresql.org, any supported major; the
#                          default for the official base).
#
# Needs podman, runc and (for the local base) debootstrap; as root it installs them with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_MODE="${PANEL_IMAGE_BASE:-local}"
REGISTRY="${PANEL_IMAGE_REGISTRY:-ghcr.io/panel-project}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)"
UV_VERSION="0.13.9"
LOCAL_BASE="localhost/panel-base:bookworm-py311"
# Debian trixie, for what bookworm lacks: PostgreSQL 17 (backup client, the node's database stand-in).
LOCAL_TRIXIE="localhost/panel-base:trixie"
LOCAL_UV="localhost/panel-uv:${UV_VERSION}"
ROOTFS_CACHE="${PANEL_IMAGE_CACHE:-/var/cache/panel-images}"
DEBIAN_MIRROR="${PANEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ALL_IMAGES=(panel backup healthcheck loadtest)
# Stand-ins for the chart's official postgres/redis images on the test node (no registry there).
NODE_IMAGES=(node-postgres node-redis)
declare -A NODE_TAGS=([node-postgres]=localhost/panel-node/postgres:17 [node-redis]=localhost/panel-node/redis:7)
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

# debootstrap SUITE IMAGE INCLUDE: a minimal Debian root filesystem, made once per machine (cached under
# PANEL_IMAGE_CACHE) and imported into podman as IMAGE.
ensure_debian_base() {
  local suite="$1" image="$2" include="$3"
  podman image exists "$image" && return 0
  local rootfs="$ROOTFS_CACHE/rootfs-${image##*:}"
  if [[ ! -x "$rootfs/usr/bin/apt-get" ]]; then
    [[ $(id -u) -eq 0 ]] || die "making the base image needs root (debootstrap); run: sudo $0"
    log "debootstrap $suite into $rootfs (about a minute)"
    rm -rf "$rootfs.partial"
    mkdir -p "$ROOTFS_CACHE"
    debootstrap --variant=minbase --include="$include" \
      "$suite" "$rootfs.partial" "$DEBIAN_MIRROR" >"$ROOTFS_CACHE/debootstrap-$suite.log" 2>&1 \
      || die "debootstrap $suite failed; see $ROOTFS_CACHE/debootstrap-$suite.log"
    rm -rf "$rootfs.partial/var/cache/apt/archives/"*.deb "$rootfs.partial/var/lib/apt/lists/"*
    mv "$rootfs.partial" "$rootfs"
  fi
  log "importing $rootfs as $image"
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
}

# Debian bookworm + its Python 3.11 (/usr/bin/python3, venv but no pip).
ensure_local_base() { ensure_debian_base bookworm "$LOCAL_BASE" python3,python3-venv,ca-certificates; }
ensure_local_trixie() { ensure_debian_base trixie "$LOCAL_TRIXIE" ca-certificates; }

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

image_tag() {
  if [[ -n "${NODE_TAGS[$1]:-}" ]]; then echo "${NODE_TAGS[$1]}"; else echo "$REGISTRY/$1:$VERSION"; fi
}

build_image() {
  local name="$1" tag
  tag="$(image_tag "$1")"
  # docker format keeps SHELL (pipefail) and HEALTHCHECK, which the OCI format drops.
  local args=(--file "docker/$name.Dockerfile" --tag "$tag" --format docker --network host "${RUNTIME_FLAGS[@]}")
  if [[ "$BASE_MODE" == local ]]; then
    args+=(--build-arg "PYTHON_IMAGE=$LOCAL_BASE" --build-arg "UV_IMAGE=$LOCAL_UV")
    args+=(--build-arg "TRIXIE_IMAGE=$LOCAL_TRIXIE")
  fi
  local ca="${PANEL_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
  if [[ "$ca" != none && -f "$ca" ]]; then
    args+=(--volume "$(realpath "$ca"):/etc/ssl/certs/ca-certificates.crt:ro")
  fi
  if [[ "$name" == backup ]]; then
    local pg_major="${PANEL_BACKUP_PG_MAJOR:-17}" pg_apt
    pg_apt="${PANEL_BACKUP_PG_APT:-$([[ $BASE_MODE == local ]] && echo debian-trixie || echo pgdg)}"
    case "$pg_apt:$pg_major" in
      pgdg:* | debian:15 | debian-trixie:17) ;;
      debian:*) usage_error "Debian bookworm carries only postgresql-client-15; for PANEL_BACKUP_PG_MAJOR=$pg_major set PANEL_BACKUP_PG_APT=debian-trixie (17) or pgdg (needs apt.postgresql.org)" ;;
      debian-trixie:*) usage_error "Debian trixie carries only postgresql-client-17; for PANEL_BACKUP_PG_MAJOR=$pg_major set PANEL_BACKUP_PG_APT=pgdg (needs apt.postgresql.org)" ;;
      *) usage_error "PANEL_BACKUP_PG_APT must be pgdg, debian or debian-trixie, not '$pg_apt'" ;;
    esac
    args+=(--build-arg "PG_MAJOR=$pg_major" --build-arg "PG_APT_SOURCE=$pg_apt")
  fi
  log "building $tag"
  local started=$SECONDS
  podman build "${args[@]}" . >&2 || die "building $tag failed (see the output above)"
  log "built $tag in $((SECONDS - started)) s"
}

main() {
  if [[ "${1:-}" == --tags ]]; then   # print the tags of the named images (built or not), one a line
    shift
    for name in "$@"; do image_tag "$name"; done
    return 0
  fi
  case "$BASE_MODE" in local | official) ;; *) usage_error "PANEL_IMAGE_BASE must be local or official, not '$BASE_MODE'" ;; esac
  local images=("$@")
  ((${#images[@]})) || images=("${ALL_IMAGES[@]}")
  for name in "${images[@]}"; do
    [[ -f "docker/$name.Dockerfile" ]] \
      || usage_error "no docker/$name.Dockerfile (images: ${ALL_IMAGES[*]} ${NODE_IMAGES[*]})"
    if [[ -n "${NODE_TAGS[$name]:-}" && "$BASE_MODE" != local ]]; then
      usage_error "$name is built on the local Debian bases only (PANEL_IMAGE_BASE=local)"
    fi
  done
  ensure_tools
  if [[ "$BASE_MODE" == local ]]; then
    ensure_local_base
    # Only the backup client and the PostgreSQL stand-in need trixie (one more debootstrap, once).
    if [[ " ${images[*]} " == *" backup "* || " ${images[*]} " == *" node-postgres "* ]]; then
      ensure_local_trixie
    fi
    ensure_local_uv
  fi
  local started=$SECONDS
  for name in "${images[@]}"; do build_image "$name"; done
  log "all built in $((SECONDS - started)) s"
  printf '%-45s %s\n' IMAGE SIZE
  for name in "${images[@]}"; do
    printf '%-45s %s\n' "$(image_tag "$name")" \
      "$(podman image inspect --format '{{.Size}}' "$(image_tag "$name")" | numfmt --to=si --suffix=B)"
  done
}

main "$@"
