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
cmake --build "$BUILD" -j2 --target dbfork dbfork_static dbfork_load dbfork_load_static dbfork_cli
if [ "${1:-}" = --build-only ]; then
  exit 0
fi

bash tests/server.sh start .dbfork-server
SOCK=$(bash tests/server.sh socket .dbfork-server)

CNF=.dbfork-server/client.cnf
CSV=.dbfork-server/orders.csv
if [ ! -s "$CSV" ]; then
  echo "generating $CSV (500,000 rows)"
  awk 'BEGIN {
    srand(42); print "id,customer_id,amount,created_at,note";
    split("plain|with, comma|with \"quotes\"|two\nlines|", notes, "|");
    for (i = 1; i <= 500000; i++) {
      n = notes[1 + int(rand() * 5)];
      if (n ~ /[,"\n]/) { gsub(/"/, "\"\"", n); n = "\"" n "\"" }
      if (n == "") n = "\\N";
      printf "%d,%d,%.2f,2026-%02d-%02d %02d:%02d:00,%s\n", i, 1 + int(rand() * 99999),
        rand() * 10000, 1 + int(rand() * 12), 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60), n
    } }' > "$CSV"
fi
mariadb --defaults-file=$CNF -S "$SOCK" -e "
  CREATE DATABASE IF NOT EXISTS dbfork_demo;
  CREATE TABLE IF NOT EXISTS dbfork_demo.orders (id BIGINT UNSIGNED PRIMARY KEY,
    customer_id INT UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL,
    note VARCHAR(32) NULL) ENGINE=InnoDB;
  TRUNCATE dbfork_demo.orders"

set +e
echo
# --restart: the table was just emptied, so forget any earlier run's progress.
echo "+ build/dbfork load $CSV --table dbfork_demo.orders --skip-lines 1 --fields-escaped-by='' --restart $*"
build/dbfork load "$CSV" --defaults-file=$CNF -S "$SOCK" --table dbfork_demo.orders \
  --skip-lines 1 --fields-escaped-by='' --restart "$@"
rc=$?
echo
echo "+ the server's own count and checksum:"
mariadb --defaults-file=$CNF -S "$SOCK" -t -e "SELECT COUNT(*) AS \`rows\`, SUM(id) AS sum_id,
  SUM(note LIKE '%,%') AS with_comma, SUM(note LIKE '%\n%') AS with_newline FROM dbfork_demo.orders"
echo
echo "+ build/dbfork demo --defaults-file=$CNF -S $SOCK"
build/dbfork demo --defaults-file=$CNF -S "$SOCK" || rc=$?
set -e
cat <<MSG

The demo server is still running (socket $SOCK).
  connect:  mariadb --defaults-file=$ROOT/.dbfork-server/client.cnf
  stop it:  bash tests/server.sh stop .dbfork-server
MSG
exit $rc
