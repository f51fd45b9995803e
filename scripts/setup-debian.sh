#!/usr/bin/env bash
# scripts/setup-debian.sh — installs what dbfork needs on Debian 12, by use:
#
#   setup-debian.sh demo      build the library and the CLI, run the demo
#                             (scripts/demo.sh: a throwaway MariaDB, `dbfork load`)
#   setup-debian.sh test      demo + what the whole suite needs (scripts/test.sh:
#                             sanitizers, valgrind, fuzzers, clang-format, the TLS
#                             tests' openssl, python3 for the loader's JSON checks)
#   setup-debian.sh bench     demo + the benchmarks' baselines (bench/*.sh)
#   setup-debian.sh [all]     everything
#   setup-debian.sh --list P  print the packages of P, one a line; install nothing
#
# Idempotent: installs only what is missing and runs `apt-get update` only
# then. Never starts the system MariaDB: the tests and the demo run their own
# throwaway server (tests/server.sh).
set -euo pipefail

DEMO=(
  build-essential cmake pkg-config
  libuv1-dev default-libmysqlclient-dev
  mariadb-server mariadb-client
)
TEST=(valgrind clang libclang-rt-14-dev clang-format openssl python3)
BENCH=(python3-mysqldb mydumper hyperfine)

list=0
if [ "${1:-}" = --list ]; then
  list=1
  shift
fi
case "${1:-all}" in
  demo) PACKAGES=("${DEMO[@]}") ;;
  test) PACKAGES=("${DEMO[@]}" "${TEST[@]}") ;;
  bench) PACKAGES=("${DEMO[@]}" "${BENCH[@]}") ;;
  all) PACKAGES=("${DEMO[@]}" "${TEST[@]}" "${BENCH[@]}") ;;
  *)
    echo "usage: $0 [--list] [demo|test|bench|all]" >&2
    exit 64
    ;;
esac
if [ $list -eq 1 ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

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
