#!/usr/bin/env bash
# bench/run.sh — dbfork vs Python multiprocessing.Pool, side by side, in one run.
#
#   bench/run.sh
#
# Builds libdbfork (Release, in bench/out/build, tests off) and bench/tasks.c,
# starts a throwaway MariaDB with tests/server.sh in bench/out/server (stopped
# again at the end, whatever happens), runs bench/out/tasks and
# bench/py_pool.py (with /usr/bin/python3, which has MySQLdb), and prints one
# table: metric, dbfork, python, ratio, target, OK/MISSED. Details and raw
# outputs land in bench/out/. Exit status 0 even when a target is missed (it
# is a benchmark, not a test); non-zero only if the build, the server or a
# benchmark program fails (every task result is checked).
#
# Knobs (environment): BENCH_N (unbatched tasks per run, 1000000), BENCH_K
# (items per batch, 1000), BENCH_BATCHES (10000), BENCH_RUNS (throughput runs,
# median, 3), BENCH_STARTS (dbfork pool starts, median, 30), BENCH_PY_N1
# (Pool.map chunksize=1 tasks, 100000), BENCH_PY_N (default-chunksize items,
# 2000000), BENCH_PY_STARTS (Pool starts, median, 15), BENCH_PYTHON
# (/usr/bin/python3), BENCH_OUT (bench/out).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
OUT=${BENCH_OUT:-$ROOT/bench/out}
PY=${BENCH_PYTHON:-/usr/bin/python3}
N=${BENCH_N:-1000000}
K=${BENCH_K:-1000}
BATCHES=${BENCH_BATCHES:-10000}
RUNS=${BENCH_RUNS:-3}
STARTS=${BENCH_STARTS:-30}
PY_N1=${BENCH_PY_N1:-100000}
PY_N=${BENCH_PY_N:-2000000}
PY_STARTS=${BENCH_PY_STARTS:-15}
SRV=$OUT/server

die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}
mkdir -p "$OUT"
[ -x "$ROOT/tests/server.sh" ] || die "tests/server.sh not found: it starts the throwaway server"
"$PY" -c 'import MySQLdb' 2>/dev/null || die "$PY has no MySQLdb (apt-get install python3-mysqldb)"

# ---- build, and the throwaway server ----
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
bench_build
bench_server
SOCK=$(cnf socket)
USER_=$(cnf user)
PASS=$(cnf password)
DB=$(cnf database)
CLIENT=$(command -v mariadb || command -v mysql || true)
aborted() {
  if [ -n "$CLIENT" ]; then
    "$CLIENT" --defaults-file="$CNF" -N -B -e "SHOW GLOBAL STATUS LIKE 'Aborted_clients'" |
      awk '{print $2}'
  else echo "?"; fi
}

# ---- the runs ----
run() { # name, then the command; stdout -> OUT/name.txt, stderr -> OUT/name.err
  local name=$1
  shift
  echo "bench: $name ..." >&2
  case $name in start_*_[2-9]) ;; *) LOADS="${LOADS:+$LOADS, }$name $(cut -d' ' -f1 /proc/loadavg)" ;; esac
  "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err" || {
    tail -20 "$OUT/$name.err" >&2
    die "$name failed (see $OUT/$name.err)"
  }
}
CONN=(--socket "$SOCK" --user "$USER_" --password "$PASS" --database "$DB")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
A0=$(aborted)
run dbfork "$OUT/tasks" "${CONN[@]}" -n "$N" -k "$K" -b "$BATCHES" -r "$RUNS" map submit batch machine
# Pool start, each variant in a fresh process (a parent that already ran a
# million tasks has a bigger heap, which makes fork() dearer), interleaved in
# rounds so that load from elsewhere on the machine hits them alike. Variants:
# the usual option files (the default), options.no_defaults=1, and
# options.defaults_file=client.cnf.
ROUNDS=3
PER_ROUND=$(((STARTS + ROUNDS - 1) / ROUNDS))
for r in $(seq 1 $ROUNDS); do
  run "start_defaults_$r" "$OUT/tasks" "${CONN[@]}" -s "$PER_ROUND" start
  run "start_nodefaults_$r" "$OUT/tasks" "${CONN[@]}" --no-defaults -s "$PER_ROUND" start
  run "start_deffile_$r" "$OUT/tasks" "${CONN[@]}" --defaults-file "$CNF" -s "$PER_ROUND" start
done
A1=$(aborted)
run python "$PY" "$ROOT/bench/py_pool.py" --cnf "$CNF" --n1 "$PY_N1" --n "$PY_N" \
  --runs "$RUNS" --starts "$PY_STARTS"
A3=$(aborted)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ----
get() { awk -v k="$2" '$1 == "RESULT" && $2 == k {print $3; f=1} END {if (!f) print "nan"}' "$OUT/$1.txt"; }
# The median over the rounds' medians of a start variant.
getr() {
  local r
  for r in $(seq 1 $ROUNDS); do get "start_$1_$r" "$2"; done |
    sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
D_MAP=$(get dbfork map_tasks_per_s)
D_SUB=$(get dbfork submit_tasks_per_s)
D_BAT=$(get dbfork batch_items_per_s)
D_START=$(getr defaults start_ms)
P_CS1=$(get python py_map_cs1_tasks_per_s)
P_DEF=$(get python py_map_default_items_per_s)
P_CHUNK=$(get python py_map_default_chunksize)
P_START=$(get python py_start_ms)

MISSED=0
# row: metric, dbfork, python, ratio (dbfork's advantage), target text, ok (1/0)
row() {
  local st=OK
  if [ "$6" != 1 ]; then
    st=MISSED
    MISSED=$((MISSED + 1))
  fi
  printf '%-44s %14s %14s %9s  %-26s %s\n' "$1" "$2" "$3" "$4" "$5" "$st"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a >= b) ? 1 : 0}'; }
fmt() { awk -v a="$1" 'BEGIN {printf "%\047.0f", a}'; }

report() {
  echo "dbfork bench — $(date -u '+%F %T UTC')"
  echo "dbfork: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') (libdbfork built from the working tree)"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
  echo "load average before/after: $LOAD_BEFORE / $LOAD_AFTER (1-min load as each program started: $LOADS)"
  echo "$("$PY" -c 'import sys, MySQLdb; print("python", sys.version.split()[0], "MySQLdb", MySQLdb.__version__)'), server $("$CLIENT" --defaults-file="$CNF" -N -B -e 'SELECT VERSION()' 2>/dev/null || echo '?')"
  echo "2 workers each; dbfork: N=$N unbatched tasks, $BATCHES batches of K=$K; python: N=$PY_N1 (chunksize=1), N=$PY_N (default chunksize=$P_CHUNK); medians of $RUNS runs, of $((ROUNDS * PER_ROUND)) / $PY_STARTS starts"
  echo
  printf '%-44s %14s %14s %9s  %-26s %s\n' metric dbfork python ratio target status
  printf '%-44s %14s %14s %9s  %-26s %s\n' "--------------------------------------------" "--------------" "--------------" "---------" "--------------------------" "------"
  row "unbatched tasks/s: dbfork_map vs cs=1" "$(fmt "$D_MAP")" "$(fmt "$P_CS1")" "$(ratio "$D_MAP" "$P_CS1")" ">= 5x Pool.map chunksize=1" "$(ge "$D_MAP" "$(awk -v p="$P_CS1" 'BEGIN {print 5 * p}')")"
  row "unbatched tasks/s: dbfork_submit vs cs=1" "$(fmt "$D_SUB")" "$(fmt "$P_CS1")" "$(ratio "$D_SUB" "$P_CS1")" ">= 5x Pool.map chunksize=1" "$(ge "$D_SUB" "$(awk -v p="$P_CS1" 'BEGIN {print 5 * p}')")"
  row "batched items/s (K=$K) vs default chunksize" "$(fmt "$D_BAT")" "$(fmt "$P_DEF")" "$(ratio "$D_BAT" "$P_DEF")" ">= Pool.map default chunks" "$(ge "$D_BAT" "$P_DEF")"
  row "pool start, 2 workers connected (ms, median)" "$D_START" "$P_START" "$(ratio "$P_START" "$D_START")" "<= 5 ms" "$(awk -v a="$D_START" 'BEGIN {print (a <= 5) ? 1 : 0}')"
  echo
  if [ "$MISSED" -gt 0 ]; then
    echo "MISSED: $MISSED target(s) missed (see bench/README.md, findings)"
  else
    echo "all targets met"
  fi
  echo
  echo "pool start details (dbfork; ms unless noted; median over $ROUNDS rounds of the medians of $PER_ROUND starts):"
  printf '  %-58s %10s %10s %10s\n' "" "defaults" "no_defaults" "def._file"
  for k in start_ms start_min_ms start_max_ms start_new_ms start_to_2nd_fork_ms start_fork_to_connected_ms \
    start_connected_to_return_ms start_parent_cpu_ms start_parent_minflt start_worker_cpu_ms start_worker_minflt \
    floor_start_ms floor_worker_cpu_ms floor_worker_minflt raw_connect_ms fork_exit_wait_ms start_join_free_ms; do
    printf '  %-58s %10s %10s %10s\n' "$k" "$(getr defaults $k)" "$(getr nodefaults $k)" "$(getr deffile $k)"
  done
  echo "  (defaults: the usual option files + explicit socket/user/password/database;"
  echo "   no_defaults: options.no_defaults=1; def._file: options.defaults_file=client.cnf;"
  echo "   floor_*: two plain fork()s that each mysql_real_connect and report on a pipe, no dbfork)"
  echo "machine unit costs: syscall $(get dbfork machine_syscall_us) us, page fault $(get dbfork machine_page_fault_us) us, copy-on-write fault after fork $(get dbfork machine_cow_fault_us) us"
  echo "python Pool start: min $(get python py_start_min_ms) ms, max $(get python py_start_max_ms) ms"
  echo
  echo "server Aborted_clients: dbfork runs +$((A1 - A0)), python Pool runs +$((A3 - A1))"
}
report | tee "$OUT/results.txt"
exit 0
