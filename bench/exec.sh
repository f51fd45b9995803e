#!/usr/bin/env bash
# bench/exec.sh — `dbfork exec` against the other ways of running one
# non-idempotent UPDATE over a big table, in one run, on one throwaway server
# (issue 13).
#
#   bench/exec.sh                     # 2M rows, 3 rounds (about 5 minutes on 2 cores)
#   ROWS=200000 REPEAT=1 bench/exec.sh
#
# The statement is UPDATE t SET n = n + 1, v = v + id % 7 (not idempotent:
# a row changed twice shows). Each run is followed by a check on what the
# server stores: every row's n went up by exactly one (COUNT of rows with the
# expected n = ROWS) and SUM(v) by exactly SUM(id % 7). The contenders, run in
# alternating order within each round (so load from elsewhere on the machine
# hits them alike):
#   dbfork-exec-w2 / -w4   dbfork exec --restart -w N (chunks tuned to 0.5 s)
#   dbfork-exec-w2-chunk   the same with --chunk-rows=CHUNK, the serial loop's
#                          chunk size (the like-for-like comparison with it)
#   single-update          one UPDATE statement over the table, one transaction
#   serial-chunked         one connection, chunks of CHUNK keys (10000), each
#                          found from the index after the last one (keyset, as
#                          pt-archiver and oak-chunk-update do) and committed
#                          on its own: the serial chunked loop
# pt-archiver (percona-toolkit) archives or purges rows; it cannot run an
# arbitrary UPDATE, so it has no entry for this statement (the script says
# whether it is installed).
# For each: wall seconds (median of the rounds), rows/s, the client's CPU
# (the command and its children, from /usr/bin/time) and the server's CPU
# (/proc/PID/stat of mariadbd), both per million rows.
#
# Environment: ROWS (2000000), REPEAT (3), CHUNK (10000), WORK (bench/out/exec),
# DBFORK (default build/dbfork), KEEP_SERVER (1: leave the server running).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=${WORK:-$ROOT/bench/out/exec}
ROWS=${ROWS:-2000000}
REPEAT=${REPEAT:-3}
CHUNK=${CHUNK:-10000}
DB=dbfork_bench_exec
DBFORK=${DBFORK:-$ROOT/build/dbfork}
die() {
  echo "bench/exec.sh: $*" >&2
  exit 1
}
command -v mariadb >/dev/null || die "mariadb not found (Debian: mariadb-client)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian: time)"
[ -x "$DBFORK" ] || die "$DBFORK not found: build first (cmake -B build && cmake --build build)"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)

SRV=$WORK/server
bash "$ROOT/tests/server.sh" start "$SRV" >/dev/null
CNF=$SRV/client.cnf
SRVPID=$(tr -dc 0-9 <"$SRV/mysqld.pid")
stop_server() {
  if [ "${KEEP_SERVER:-0}" != 1 ]; then bash "$ROOT/tests/server.sh" stop "$SRV" >/dev/null 2>&1 || true; fi
}
trap stop_server EXIT
sql() { mariadb --defaults-file="$CNF" --batch --skip-column-names "$@"; }
sql -e "SET GLOBAL innodb_log_file_size = 1073741824"
echo "making $ROWS rows ..."
sql -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB;
  CREATE TABLE $DB.t (id BIGINT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 0,
    v BIGINT NOT NULL, pad VARCHAR(60) NOT NULL) ENGINE=InnoDB; USE $DB;
  INSERT INTO $DB.t (id, v, pad) SELECT seq, seq * 3, REPEAT(CHAR(97 + seq % 26), 40 + seq % 20)
    FROM seq_1_to_$ROWS"
STMT="UPDATE $DB.t SET n = n + 1, v = v + id % 7"
DV=$(sql -e "SELECT SUM(id % 7) FROM $DB.t")

# The serial chunked loop, as one script for one connection.
LOOP=$WORK/serial.sql
{
  echo "SET autocommit = 1; SET @a = 0;"
  for ((i = 0; i <= ROWS / CHUNK; i++)); do
    echo "SELECT MAX(id) INTO @b FROM (SELECT id FROM $DB.t WHERE id > @a ORDER BY id LIMIT $CHUNK) x;"
    echo "$STMT WHERE id > @a AND id <= @b; SET @a = @b;"
  done
} >"$LOOP"

TCK=$(getconf CLK_TCK)
srv_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$SRVPID/stat"; }
now() { date +%s.%N; }
RESULTS=$WORK/results.tsv
: >"$RESULTS"
EXPECT_N=0
run() { # NAME CMD...
  local name=$1 log=$WORK/$1.log tf=$WORK/$1.time s0 s1 c0 c1 rc=0 u sy st v0 v1 good
  shift
  v0=$(sql -e "SELECT SUM(v) FROM $DB.t")
  sync
  s0=$(srv_cpu)
  c0=$(now)
  /usr/bin/time -f "%U %S" -o "$tf" "$@" >"$log" 2>&1 || rc=$?
  c1=$(now)
  s1=$(srv_cpu)
  EXPECT_N=$((EXPECT_N + 1))
  good=$(sql -e "SELECT COUNT(*) FROM $DB.t WHERE n = $EXPECT_N")
  v1=$(sql -e "SELECT SUM(v) FROM $DB.t")
  if [ "$good" = "$ROWS" ] && [ "$((v1 - v0))" = "$DV" ]; then st=ok; else
    st="WRONG: $good rows with n=$EXPECT_N of $ROWS, SUM(v) moved by $((v1 - v0)), want $DV"
    EXPECT_N=$(sql -e "SELECT MAX(n) FROM $DB.t")
  fi
  [ $rc = 0 ] || st="EXIT $rc (see $log) $st"
  read -r u sy <"$tf" || { u=0; sy=0; }
  awk -v n="$name" -v r="$ROWS" -v a="$c0" -v b="$c1" -v u="$u" -v sy="$sy" -v s0="$s0" \
    -v s1="$s1" -v st="$st" 'BEGIN { t = b - a; m = r / 1e6;
      printf "%s\t%.3f\t%.0f\t%.3f\t%.3f\t%s\n", n, t, r / t, (u + sy) / m, (s1 - s0) / m, st }' |
    tee -a "$RESULTS" | awk -F'\t' '{printf "  %-16s %7.2f s %9s rows/s  client cpu %6.3f s/Mrow  server cpu %6.3f s/Mrow  %s\n", $1, $2, $3, $4, $5, $6}'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); server $(sql -e 'SELECT VERSION()') (tests/server.sh settings, redo log 1G)"
echo "uptime at start: $(uptime)"
if command -v pt-archiver >/dev/null; then
  echo "pt-archiver: installed ($(pt-archiver --version 2>&1 | head -1)); it archives or purges rows and cannot run this UPDATE: no entry"
else
  echo "pt-archiver: not installed (it archives or purges rows and could not run this UPDATE anyway)"
fi
for ((r = 1; r <= REPEAT; r++)); do
  echo "round $r:"
  order=(1 2 3 4 5)
  ((r % 2 == 0)) && order=(5 4 3 2 1)
  for k in "${order[@]}"; do
    case $k in
      1) run dbfork-exec-w2 "$DBFORK" exec --defaults-file="$CNF" --table $DB.t --restart --json -w 2 "$STMT WHERE {chunk}" ;;
      2) run dbfork-exec-w4 "$DBFORK" exec --defaults-file="$CNF" --table $DB.t --restart --json -w 4 "$STMT WHERE {chunk}" ;;
      3) run single-update mariadb --defaults-file="$CNF" -e "$STMT" ;;
      5) run dbfork-exec-w2-chunk "$DBFORK" exec --defaults-file="$CNF" --table $DB.t --restart --json -w 2 --chunk-rows "$CHUNK" "$STMT WHERE {chunk}" ;;
      4) run serial-chunked mariadb --defaults-file="$CNF" -e "SOURCE $LOOP" ;;
    esac
  done
done
echo "uptime at end: $(uptime)"
echo
echo "median over $REPEAT rounds ($ROWS rows; the machine is shared: noisy):"
sort -t$'\t' -k1,1 -k2,2n "$RESULTS" | awk -F'\t' '
  { n[$1]++; t[$1, n[$1]] = $2; c[$1, n[$1]] = $4; s[$1, n[$1]] = $5; if ($6 != "ok") bad[$1] = $6 }
  END {
    for (k in n) { m = int((n[k] + 1) / 2); med[k] = t[k, m]; mc[k] = c[k, m]; ms[k] = s[k, m] }
    for (k in n) printf "  %-16s %7.2f s  %9.0f rows/s  client cpu %6.3f s/Mrow  server cpu %6.3f s/Mrow%s\n",
      k, med[k], ROWS / med[k], mc[k], ms[k], (k in bad) ? "  " bad[k] : ""
    if (("dbfork-exec-w2" in med) && ("serial-chunked" in med) && ("single-update" in med))
      printf "  dbfork exec -w 2: %.2fx the serial chunked loop (target >= 1.3), %.2fx the single statement'"'"'s wall (target <= 1.2)\n",
        med["serial-chunked"] / med["dbfork-exec-w2"], med["dbfork-exec-w2"] / med["single-update"]
    if (("dbfork-exec-w2-chunk" in med) && ("serial-chunked" in med))
      printf "  with the same chunk size: dbfork exec -w 2 --chunk-rows %d is %.2fx the serial chunked loop\n",
        CHUNK, med["serial-chunked"] / med["dbfork-exec-w2-chunk"]
  }' ROWS="$ROWS" CHUNK="$CHUNK"
grep -o '"chunk_rows":[0-9]*' "$WORK/dbfork-exec-w2.log" | sed 's/^/  dbfork exec -w 2, last chunk size: /' || true
