#!/usr/bin/env bash
# scripts/demo.sh — see dbfork work: installs dependencies, builds, starts a
# throwaway MariaDB in .dbfork-server/ (never the system service), and runs
# the main job: `dbfork load` of a generated 500,000-row CSV (quoted commas,
# quotes and newlines in fields, a header line) into a table, in parallel,
# one transaction per chunk; then `dbfork demo`, a parallel insert job that
# shows each worker's own session and Aborted_clients before/after.
#
# Extra arguments go to `dbfork load` (e.g. --workers=4 --method=insert).
# The password stays out of argv: it is read from .dbfork-server/client.cnf.
#
# It installs only what the demo needs (scripts/setup-debian.sh demo), and
# builds what `cmake --install build` installs, so that an install can follow
# at once. --build-only stops after the build (DBFORK_DEMO_BUILD_DIR, default
# build, is where it builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${DBFORK_DEMO_BUILD_DIR:-build}

bash scripts/setup-debian.sh demo
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target dbfork dbfork_static dbfork_load dbfork_load_static dbfork_exec \
  dbfork_exec_static dbfork_cli
if [ "${1:-}" = --build-only ]; then
  exit 0
fi

bash tests/server.sh start .dbfork-server
SOCK=$(bash tests/server.sh socket .dbfork-server)

CNF=.dbfork-server/client.cnf
CSV=.dbfork-server/orders.csv
# A file from an older demo held "\N" for NULL, which without an escape
# character loads as the two characters: make it again.
if [ ! -s "$CSV" ] || grep -q '\\N$' "$CSV"; then
  echo "generating $CSV (500,000 rows)"
  bash scripts/demo-data.sh 500000 > "$CSV"
fi
mariadb --defaults-file=$CNF -S "$SOCK" -e "
  CREATE DATABASE IF NOT EXISTS dbfork_demo;
  CREATE TABLE IF NOT EXISTS dbfork_demo.orders (id BIGINT UNSIGNED PRIMARY KEY,
    customer_id INT UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL,
    note VARCHAR(32) NULL) ENGINE=InnoDB"

set +e
echo
# --truncate: the table is emptied as the load starts (the demo reloads the
# same file every time). The command is echoed as it runs, every argument.
LOAD=(build/dbfork load "$CSV" --defaults-file="$CNF" -S "$SOCK" --table dbfork_demo.orders
  --skip-lines 1 --fields-escaped-by= --truncate "$@")
echo "+ ${LOAD[*]}"
"${LOAD[@]}"
rc=$?
echo
echo "+ the server's own count and checksum (NULL notes are NULL, not the text \\N or NULL):"
mariadb --defaults-file=$CNF -S "$SOCK" -t -e "SELECT COUNT(*) AS \`rows\`, SUM(id) AS sum_id,
  SUM(note LIKE '%,%') AS with_comma, SUM(note LIKE '%\n%') AS with_newline,
  SUM(note IS NULL) AS null_notes, SUM(note IN ('\\\\N', 'NULL')) AS null_as_text
  FROM dbfork_demo.orders"
echo
DEMO=(build/dbfork demo --defaults-file="$CNF" -S "$SOCK")
echo "+ ${DEMO[*]}"
"${DEMO[@]}" || rc=$?
set -e
cat <<MSG

The demo server is still running (socket $SOCK).
  connect:  mariadb --defaults-file=$ROOT/.dbfork-server/client.cnf
  stop it:  bash tests/server.sh stop .dbfork-server
MSG
exit $rc
