#!/usr/bin/env bash
# Installs everything the stack and the tests need on a fresh Debian 12 machine.
# Idempotent: a second run only checks and returns in a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"

# Debian packages: a file that proves it is installed (a binary, or a font) -> package that provides it.
declare -A APT_PACKAGES=(
  [/usr/bin/redis-server]=redis-server
  [/usr/lib/postgresql/15/bin/postgres]=postgresql-15
  [/usr/bin/pg_dump]=postgresql-client-15
  [/usr/bin/age]=age
  [/usr/bin/zstd]=zstd
  [/usr/bin/wrk]=wrk
  [/usr/bin/promtool]=prometheus
  [/usr/bin/prometheus-alertmanager]=prometheus-alertmanager
  [/usr/bin/setpriv]=util-linux
  [/usr/sbin/nginx]=nginx
  [/usr/sbin/iptables]=iptables
  [/usr/sbin/ip]=iproute2
  # The UI suite (tests/ui) drives Debian's Chromium with Playwright; no browser is downloaded.
  [/usr/bin/chromium]=chromium
  [/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]=fonts-dejavu-core
)

missing=()
for binary in "${!APT_PACKAGES[@]}"; do
  [[ -e "$binary" ]] || missing+=("${APT_PACKAGES[$binary]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "fix:   sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # policy-rc.d keeps apt from starting system-wide redis/postgres/prometheus services:
  # the stack and the tests start their own private servers.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

if ! command -v uv >/dev/null || [[ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]]; then
  echo "==> installing uv $UV_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

# The lockfile is the single source of truth: --frozen refuses to silently re-resolve.
uv sync --frozen --all-packages --quiet
