#!/usr/bin/env bash
# bench/hosts.sh — one `dbfork exec --job` job shared by 1, 2 and 3
# processes of 2 workers each on this machine, against one throwaway server
# (issue 15). Each process connects over TCP to 127.0.0.1, as a host would.
#
#   bench/hosts.sh                  # 1M rows, 2 rounds: about 2 minutes on 2 cores
#   ROWS=200000 REPEAT=1 bench/hosts.sh
#
# Measured, each run verified on the server (every row's n went up by one):
#   share-P     P processes run UPDATE t SET n = n + 1 WHERE {chunk} over ROWS
#               rows (chunks of CHUNK keys): wall, rows/s, server CPU per
#               million rows
#   claims-P    P processes run a statement that matches nothing
#               (WHERE {chunk} AND n < 0) in chunks of 100 keys: every chunk
#               is a cut, a claim, a statement, a progress row and a commit;
#               chunks/s is the claim rate (Solid Queue's ~400 claims/s in
#               production is the reference figure the issue gives)
#   takeover    3 processes, one frozen with SIGSTOP (its workers too) after
#               50 chunks: seconds from the SIGSTOP to its row marked
#               killed_by (--dead-after 3) and to the job's end
# Environment: ROWS (1000000), CHUNK (5000), REPEAT (2), WORK
# (bench/out/hosts), DBFORK (default build/dbfork), KEEP_SERVER (1: leave it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=${WORK:-$ROOT/bench/out/hosts}
ROWS=${ROWS:-1000000}
CHUNK=${CHUNK:-5000}
REPEAT=${REPEAT:-2}
DB=dbfork_bench_hosts
DBFORK=${DBFORK:-$ROOT/build/dbfork}
die() {
  echo "bench/hosts.sh: $*" >&2
  exit 1
}
command -v mariadb >/dev/null || die "mariadb not found (Debian: mariadb-client)"
[ -x "$DBFORK" ] || die "$DBFORK not found: build first (cmake -B build && cmake --build build)"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
SRV=$WORK/server
PORT=${PORT:-$((20000 + RANDOM % 20000))}
DBFORK_SERVER_PORT=$PORT bash "$ROOT/tests/server.sh" start "$SRV" >/dev/null
CNF=$SRV/client.cnf
SRVPID=$(tr -dc 0-9 <"$SRV/mysqld.pid")
stop_server() {
  if [ "${KEEP_SERVER:-0}" != 1 ]; then bash "$ROOT/tests/server.sh" stop "$SRV" >/dev/null 2>&1 || true; fi
}
trap stop_server EXIT
sql() { mariadb --defaults-file="$CNF" --batch --skip-column-names "$@"; }

# TCP on 127.0.0.1: the server's port, the test account of tests/server.sh.
[ "$(sql -e "SELECT @@skip_networking")" = 0 ] ||
  die "the server in $SRV runs without TCP (started earlier without DBFORK_SERVER_PORT): stop it"
PORT=$(sql -e "SELECT @@port")
USER_=$(awk -F= '/^user/{gsub(/ /,"",$2); print $2; exit}' "$CNF")
PASS_=$(awk -F= '/^password/{gsub(/ /,"",$2); print $2; exit}' "$CNF")
TCPCNF=$WORK/tcp.cnf
printf '[client]\nhost=127.0.0.1\nport=%s\nuser=%s\npassword=%s\n' "$PORT" "$USER_" "$PASS_" >"$TCPCNF"
chmod 600 "$TCPCNF"

TCK=$(getconf CLK_TCK)
srv_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$SRVPID/stat"; }
now() { date +%s.%N; }

sql -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB;
  CREATE TABLE $DB.t (id BIGINT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 0,
    pad CHAR(40) NOT NULL DEFAULT 'x') ENGINE=InnoDB; USE $DB;
  INSERT INTO $DB.t (id) SELECT seq FROM seq_1_to_$ROWS"
EXPECT=0
JOBS=0

# run_share NAME P CHUNKROWS SQL JOB: P processes on the new job JOB;
# prints a line.
run_share() {
  local name=$1 p=$2 rows=$3 stmt=$4 job=$5 i t0 t1 s0 s1 pids=() rc=0 chunks
  s0=$(srv_cpu)
  t0=$(now)
  for ((i = 0; i < p; i++)); do
    "$DBFORK" exec --defaults-file="$TCPCNF" -D $DB --table t --job "$job" -w 2 \
      --chunk-rows "$rows" --json "$stmt" >"$WORK/$name.$i.json" 2>"$WORK/$name.$i.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || rc=$?; done
  t1=$(now)
  s1=$(srv_cpu)
  chunks=$(sql -e "SELECT COUNT(*) FROM $DB.dbfork_exec_progress WHERE job_id =
    (SELECT MIN(job_id) FROM $DB.dbfork_exec_process WHERE job_name = '$job')")
  echo "$name $p $t0 $t1 $s0 $s1 $rc $chunks"
}

check() { # expected n everywhere
  local good
  good=$(sql -e "SELECT COUNT(*) FROM $DB.t WHERE n = $EXPECT")
  [ "$good" = "$ROWS" ] && echo ok || echo "WRONG: $good of $ROWS rows with n = $EXPECT"
}

report() { # the line of run_share, what it verified
  awk -v r="$ROWS" -v st="$2" '{ t = $4 - $3; m = r / 1e6;
    printf "  %-10s %d procs %7.2f s %9.0f rows/s %7.0f chunks/s  server cpu %6.3f s/Mrow  exit %s  %s\n",
      $1, $2, t, r / t, $8 / t, ($6 - $5) / m, $7, st }' <<<"$1"
}

echo "machine: $(nproc) CPUs; server $(sql -e 'SELECT VERSION()') on 127.0.0.1:$PORT; $ROWS rows"
echo "uptime at start: $(uptime)"
for ((r = 1; r <= REPEAT; r++)); do
  echo "round $r:"
  order=(1 2 3)
  ((r % 2 == 0)) && order=(3 2 1)
  for p in "${order[@]}"; do
    JOBS=$((JOBS + 1))
    line=$(run_share "share-$p" "$p" "$CHUNK" "UPDATE t SET n = n + 1 WHERE {chunk}" "bench-$JOBS")
    EXPECT=$((EXPECT + 1))
    report "$line" "$(check)" | tee -a "$WORK/results.txt"
  done
  for p in "${order[@]}"; do
    JOBS=$((JOBS + 1))
    line=$(run_share "claims-$p" "$p" 100 "UPDATE t SET n = n + 1 WHERE {chunk} AND n < 0" "bench-$JOBS")
    report "$line" "$(check)" | tee -a "$WORK/results.txt"
  done
done

# Takeover: one of three frozen after 50 chunks.
JOBS=$((JOBS + 1))
job=bench-$JOBS
pids=()
for i in 0 1 2; do
  "$DBFORK" exec --defaults-file="$TCPCNF" -D $DB --table t --job "$job" -w 2 --dead-after 3 \
    --chunk-rows 2000 --json "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.00001) = 0" \
    >"$WORK/takeover.$i.json" 2>"$WORK/takeover.$i.err" &
  pids+=($!)
done
until [ "$(sql -e "SELECT COUNT(*) FROM $DB.dbfork_exec_progress WHERE job_id =
  (SELECT MIN(job_id) FROM $DB.dbfork_exec_process WHERE job_name = '$job')" 2>/dev/null || echo 0)" -ge 50 ]; do
  sleep 0.05
done
kids=$(pgrep -P "${pids[0]}" || true)
t0=$(now)
kill -STOP "${pids[0]}" $kids
until [ "$(sql -e "SELECT COUNT(*) FROM $DB.dbfork_exec_process WHERE job_name = '$job' AND killed_by IS NOT NULL")" = 1 ]; do
  sleep 0.02
done
t1=$(now)
wait "${pids[1]}" "${pids[2]}"
t2=$(now)
kill -CONT "${pids[0]}" $kids
wait "${pids[0]}" || true
EXPECT=$((EXPECT + 1))
awk -v a="$t0" -v b="$t1" -v c="$t2" -v st="$(check)" 'BEGIN {
  printf "  takeover   SIGSTOP to sessions KILLed %.2f s (--dead-after 3), to the job done %.2f s  %s\n", b - a, c - a, st }' |
  tee -a "$WORK/results.txt"
echo "uptime at end: $(uptime)"
