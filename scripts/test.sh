#!/usr/bin/env bash
# scripts/test.sh — the whole suite, as CI runs it (.ci/run):
# install dependencies, configure build/ with warnings as errors, build, and
# run every test (unit, integration against a throwaway MariaDB, fault, CSV,
# install/consumer) with ctest -j2. ctest's output is the last thing printed
# and its exit code is this script's.
#
# Environment: BUILD_DIR (default build), CTEST_ARGS (extra ctest arguments,
# e.g. "-R integration"), CMAKE_ARGS (extra configure arguments).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-debian.sh

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DDBFORK_WERROR=ON ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j2

set +e
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 ${CTEST_ARGS:-}
rc=$?
exit $rc
