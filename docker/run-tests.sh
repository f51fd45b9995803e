#!/usr/bin/env bash
# docker/run-tests.sh — the test container's command in compose.yaml: runs the
# suite against the server of a sibling container, reached through its unix
# socket on a shared volume (DBFORK_TEST_EXTERNAL_SOCKET).
#
# The test harness (tests/CMakeLists.txt) honours the cache variable
# DBFORK_TEST_EXTERNAL_SOCKET: DBFORK_TEST_SOCKET is that path, the "mariadb"
# fixture only waits for the server to answer instead of starting
# tests/server.sh, and tests that restart the server skip.
# The tls suite keeps its own local MariaDB (tests/tls/tls_server.sh).
set -euo pipefail
cd /src
: "${DBFORK_TEST_EXTERNAL_SOCKET:?set by compose.yaml}"
echo "run-tests: server at $DBFORK_TEST_EXTERNAL_SOCKET"
for _ in $(seq 1 120); do
  if mariadb-admin --no-defaults --socket="$DBFORK_TEST_EXTERNAL_SOCKET" -udbfork \
    -pdbfork-test-pw ping >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
mariadb --no-defaults --socket="$DBFORK_TEST_EXTERNAL_SOCKET" -udbfork -pdbfork-test-pw \
  -e 'SELECT VERSION(), @@performance_schema, @@local_infile'
cmake -S . -B build-ext -DDBFORK_WERROR=ON \
  -DDBFORK_TEST_EXTERNAL_SOCKET="$DBFORK_TEST_EXTERNAL_SOCKET"
cmake --build build-ext -j2
exec ctest --test-dir build-ext --output-on-failure -j2 ${CTEST_ARGS:-}
