#!/usr/bin/env bash
# tests/client/run.sh ROOT WORK — dbfork's configure checks on the client
# library, against stub headers (nothing here builds against MySQL's real
# libmysqlclient: it is not installable on Debian 12; README.md says what
# was tested):
#   mysql8/   MySQL 8's shape: the checks choose the MySQL paths
#             (MYSQL_OPT_SSL_MODE, MYSQL_OPT_SSL_CA/CERT/KEY, MYSQL.net.fd,
#             MYSQL.reconnect) and src/mysql.c, worker.c, ctl.c compile with
#             them, warnings as errors;
#   lacking/  no TLS mode option at all: configure stops and names it.
set -uo pipefail
ROOT=$1
WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
fail=0

echo "== mysql8: configure"
if ! cmake -S "$HERE/project" -B "$WORK/mysql8" -DDBFORK_ROOT="$ROOT" -DSTUB="$HERE/mysql8" \
  >"$WORK/mysql8.log" 2>&1; then
  cat "$WORK/mysql8.log"
  exit 1
fi
grep 'dbfork:' "$WORK/mysql8.log"
for want in "TLS mode: MYSQL_OPT_SSL_MODE" "TLS files: MYSQL_OPT_SSL_CA/CERT/KEY" \
  "socket of a handle: MYSQL.net.fd" "auto-reconnect off: MYSQL.reconnect = 0"; do
  grep -qF "$want" "$WORK/mysql8.log" || { echo "mysql8: expected '$want'"; fail=1; }
done
echo "== mysql8: compile"
cmake --build "$WORK/mysql8" || fail=1

echo "== lacking: configure must fail"
if cmake -S "$HERE/project" -B "$WORK/lacking" -DDBFORK_ROOT="$ROOT" -DSTUB="$HERE/lacking" \
  >"$WORK/lacking.log" 2>&1; then
  echo "lacking: configure succeeded without a TLS mode option"
  fail=1
fi
grep -A3 'lacks what dbfork' "$WORK/lacking.log"
grep -q 'a TLS mode option' "$WORK/lacking.log" || { echo "lacking: no message naming it"; fail=1; }
[ $fail -eq 0 ] && echo "client.checks: ok"
exit $fail
