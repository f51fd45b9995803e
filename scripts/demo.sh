#!/usr/bin/env bash
# scripts/demo.sh — see dbfork work: installs dependencies, builds, starts a
# throwaway MariaDB in .dbfork-server/ (never the system service), and runs
# `dbfork demo`: a parallel, transactional insert job over worker processes,
# each with its own connection, then what the server saw.
#
# Extra arguments go to `dbfork demo` (e.g. --rows=1000000 --workers=4).
# The password stays out of argv: it is read from .dbfork-server/client.cnf.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target dbfork_cli

bash tests/server.sh start .dbfork-server
SOCK=$(bash tests/server.sh socket .dbfork-server)

echo
echo "+ build/dbfork demo --defaults-file=.dbfork-server/client.cnf -S $SOCK -u dbfork $*"
set +e
build/dbfork demo --defaults-file=.dbfork-server/client.cnf -S "$SOCK" -u dbfork "$@"
rc=$?
set -e
cat <<MSG

The demo server is still running (socket $SOCK).
  connect:  mariadb --defaults-file=$ROOT/.dbfork-server/client.cnf
  stop it:  bash tests/server.sh stop .dbfork-server
MSG
exit $rc
