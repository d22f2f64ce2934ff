#!/usr/bin/env bash
# Installs the Debian 12 packages ergrid needs to build, test and demo.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
    build-essential pkg-config meson ninja-build
    libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev check
    libgnutls28-dev openssl
    curl python3 python3-pytest python3-jsonschema docker-compose cppcheck
    etcd-server etcd-client spin
)
if [ "${ERGRID_WITH_BROWSER:-0}" = 1 ]; then
    packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
