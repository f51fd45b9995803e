#!/usr/bin/env bash
# scripts/test.sh — the whole suite, as CI runs it (.ci/run):
# install dependencies (scripts/setup-debian.sh test: what the demo needs and
# the rest), configure build/ with warnings as errors, build, run
# the hardening legs (scripts/ci-hardening.sh), then every test (unit,
# integration against a throwaway MariaDB, fault, CSV, load, TLS, docs,
# install/consumer) with ctest -j2. ctest's output is the last thing printed;
# the exit code is non-zero if ctest or a hardening leg failed.
#
# Environment: BUILD_DIR (default build), CTEST_ARGS (extra ctest arguments,
# e.g. "-R integration"), CMAKE_ARGS (extra configure arguments),
# DBFORK_HARDENING=0 (skip the hardening legs), FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh test

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DDBFORK_WERROR=ON -DDBFORK_BUILD_TESTS=ON ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j2

set +e
# The hardening legs first (ASan+UBSan suite, valgrind, fuzzers, exported
# symbols, clang-format: scripts/ci-hardening.sh), so that the main suite's
# ctest output is the last thing printed. DBFORK_HARDENING=0 skips them.
hrc=0
if [ "${DBFORK_HARDENING:-1}" != 0 ]; then
  DBFORK_BUILD_DIR=$PWD/$BUILD_DIR bash scripts/ci-hardening.sh
  hrc=$?
fi
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 ${CTEST_ARGS:-}
rc=$?
if [ $rc -eq 0 ] && [ $hrc -ne 0 ]; then
  echo "scripts/test.sh: the main suite passed, but a hardening leg failed (output above)" >&2
  rc=$hrc
fi
exit $rc
