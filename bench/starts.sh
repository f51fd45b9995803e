#!/usr/bin/env bash
# bench/starts.sh — start methods side by side in one run: dbfork's fork,
# forkserver and spawn (bench/tasks.c --start-method) and Python's
# multiprocessing.Pool(2) with a MySQLdb initializer under "fork",
# "forkserver" and "spawn" (bench/py_pool.py --start-method). Two figures:
#
#   start    pool creation until both workers are connected, median of
#            STARTS starts in one process (ms), and the client CPU (the
#            program and its workers, user+sys) and server CPU per start;
#   recycle  max_tasks_per_worker=1 (Python: maxtasksperchild=1): RECYCLE
#            trivial tasks, each in a new worker with a new connection,
#            from pool creation to the last result (tasks/s), and the
#            client and server CPU per task.
#
# ROUNDS rounds; in each, the six tools run one after the other in an order
# that rotates every round. Client CPU is that of the tool and every process
# it started, orphans included (bench/cpu_of.c: a child subreaper, so a
# forkserver helper and the workers it reaped are counted); server CPU is
# mariadbd's (/proc/PID/stat). Each result is checked by the tool (every task's
# result, every start's connections) and a failed one stops the run. The
# figure is the median of the rounds; the 1-minute load average is printed.
#
#   bash bench/starts.sh            (builds like bench/run.sh, own server)
#
# Knobs: BENCH_ROUNDS (3), BENCH_STARTS (20), BENCH_RECYCLE (200),
# BENCH_PYTHON (/usr/bin/python3), BENCH_OUT (bench/out).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
OUT=${BENCH_OUT:-$ROOT/bench/out}
PY=${BENCH_PYTHON:-/usr/bin/python3}
ROUNDS=${BENCH_ROUNDS:-3}
STARTS=${BENCH_STARTS:-20}
RECYCLE=${BENCH_RECYCLE:-200}
SRV=$OUT/server
die() {
  echo "bench/starts.sh: $*" >&2
  exit 1
}
mkdir -p "$OUT"
"$PY" -c 'import MySQLdb' 2>/dev/null || die "$PY has no MySQLdb (apt-get install python3-mysqldb)"

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
bench_build
bench_server
CONN=(--socket "$(cnf socket)" --user "$(cnf user)" --password "$(cnf password)" --database "$(cnf database)")
SRVPID=$(tr -dc 0-9 <"$SRV/mysqld.pid")
TCK=$(getconf CLK_TCK)
srv_cpu() { awk -v t="$TCK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$SRVPID/stat"; }

result() { awk -v k="$1" '$1 == "RESULT" && $2 == k {print $3}' "$2"; }
RES=$OUT/starts.tsv
: >"$RES"
# one TOOL WHAT: runs it, appends "tool what value client_cpu_ms server_cpu_ms"
# per unit (a start or a task) to RES.
one() {
  local tool=$1 what=$2 m=${1#* } log=$OUT/starts_${1/ /_}_$2 s0 s1 u sy v units key
  s0=$(srv_cpu)
  case "$tool:$what" in
    dbfork*:start)
      "$OUT/cpu_of" "$log.time" "$OUT/tasks" "${CONN[@]}" --start-method "$m" \
        --no-start-refs -s "$STARTS" start >"$log.txt" 2>"$log.err" || die "$tool $what failed (see $log.err)"
      key=start_ms units=$STARTS ;;
    dbfork*:recycle)
      "$OUT/cpu_of" "$log.time" "$OUT/tasks" "${CONN[@]}" --start-method "$m" \
        -r 1 --recycle-tasks "$RECYCLE" recycle >"$log.txt" 2>"$log.err" || die "$tool $what failed (see $log.err)"
      key=recycle_tasks_per_s units=$RECYCLE ;;
    python*:start)
      "$OUT/cpu_of" "$log.time" "$PY" "$ROOT/bench/py_pool.py" --cnf "$CNF" \
        --start-method "$m" --starts "$STARTS" start >"$log.txt" 2>"$log.err" || die "$tool $what failed (see $log.err)"
      key=py_start_ms units=$STARTS ;;
    python*:recycle)
      "$OUT/cpu_of" "$log.time" "$PY" "$ROOT/bench/py_pool.py" --cnf "$CNF" \
        --start-method "$m" --runs 1 --recycle "$RECYCLE" recycle >"$log.txt" 2>"$log.err" || die "$tool $what failed (see $log.err)"
      key=py_recycle_tasks_per_s units=$RECYCLE ;;
  esac
  s1=$(srv_cpu)
  v=$(result "$key" "$log.txt")
  [ -n "$v" ] || die "$tool $what printed no $key (see $log.txt)"
  read -r u sy <"$log.time"
  awk -v t="$tool" -v w="$what" -v v="$v" -v u="$u" -v sy="$sy" -v n="$units" -v s0="$s0" -v s1="$s1" \
    'BEGIN {printf "%s\t%s\t%s\t%.2f\t%.2f\n", t, w, v, (u + sy) * 1e3 / n, (s1 - s0) * 1e3 / n}' >>"$RES"
}

TOOLS=("dbfork fork" "dbfork forkserver" "dbfork spawn" "python fork" "python forkserver" "python spawn")
LOADS=""
for ((r = 0; r < ROUNDS; r++)); do
  LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
  for ((k = 0; k < ${#TOOLS[@]}; k++)); do
    t=${TOOLS[$(((k + r) % ${#TOOLS[@]}))]}
    echo "bench: round $((r + 1)): $t ..." >&2
    one "$t" start
    one "$t" recycle
  done
done

# The median over the rounds of each column, per tool and figure.
med() { # TOOL WHAT COLUMN
  awk -F'\t' -v t="$1" -v w="$2" -v c="$3" '$1 == t && $2 == w {print $c}' "$RES" | sort -g |
    awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo
echo "start methods: $ROUNDS rounds (medians), 2 workers, 1-minute load at each round:$LOADS"
printf '%-18s %10s %9s %9s   %10s %9s %9s\n' "" "start ms" "client" "server" "recycle" "client" "server"
printf '%-18s %10s %9s %9s   %10s %9s %9s\n' "" "" "ms/start" "ms/start" "tasks/s" "ms/task" "ms/task"
for t in "${TOOLS[@]}"; do
  printf '%-18s %10s %9s %9s   %10s %9s %9s\n' "$t" "$(med "$t" start 3)" "$(med "$t" start 4)" \
    "$(med "$t" start 5)" "$(med "$t" recycle 3)" "$(med "$t" recycle 4)" "$(med "$t" recycle 5)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "forkserver start / fork start (dbfork): $(ratio "$(med "dbfork forkserver" start 3)" "$(med "dbfork fork" start 3)")x  (target <= 1.5x)"
echo "python spawn start / dbfork spawn start: $(ratio "$(med "python spawn" start 3)" "$(med "dbfork spawn" start 3)")x  (target >= 10x)"
