#!/usr/bin/env bash
# scripts/setup-debian.sh — installs what dbfork needs to build, test, fuzz
# and benchmark on Debian 12. Idempotent: installs only what is missing and
# runs `apt-get update` only then. Never starts the system MariaDB: the tests
# and the demo run their own throwaway server (tests/server.sh).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libuv1-dev default-libmysqlclient-dev
  mariadb-server mariadb-client
  python3-mysqldb mydumper hyperfine
  valgrind clang libclang-rt-14-dev clang-format
  openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian: all packages present"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-debian: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# Keep maintainer scripts from starting services (the mariadb-server package
# would start the system server). policy-rc.d exit 101 = "action forbidden".
# If one is already in place (containers often ship one), leave it alone; if
# the service starts anyway, nothing depends on it.
POLICY=/usr/sbin/policy-rc.d
ours=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# written by dbfork scripts/setup-debian.sh during apt-get install\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  ours=1
fi
cleanup() { if [ $ours -eq 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
echo "setup-debian: done"
