#!/usr/bin/env bash
# bench/starts.sh — pool start by start method, side by side in one run:
# dbfork's fork, forkserver and spawn (bench/tasks.c --start-method) and
# Python's multiprocessing.Pool(2) with a MySQLdb initializer under "fork",
# "forkserver" and "spawn" (bench/py_pool.py --start-method). Pool start =
# until both workers are connected; dbfork: median of STARTS starts (after
# one warm-up pool in the same process), Python: median of PY_STARTS.
#
#   bash bench/starts.sh            (builds like bench/run.sh, own server)
#
# Knobs: BENCH_STARTS (30), BENCH_PY_STARTS (10), BENCH_PYTHON
# (/usr/bin/python3), BENCH_OUT (bench/out). Run on a quiet machine: the
# 1-minute load average is printed with each figure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
OUT=${BENCH_OUT:-$ROOT/bench/out}
PY=${BENCH_PYTHON:-/usr/bin/python3}
STARTS=${BENCH_STARTS:-30}
PY_STARTS=${BENCH_PY_STARTS:-10}
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

result() { awk -v k="$1" '$1 == "RESULT" && $2 == k {print $3}' "$2"; }
declare -A D P L
for m in fork forkserver spawn; do
  echo "bench: dbfork $m ..." >&2
  L[d$m]=$(cut -d' ' -f1 /proc/loadavg)
  "$OUT/tasks" "${CONN[@]}" --start-method "$m" -s "$STARTS" start >"$OUT/starts_$m.txt" \
    2>"$OUT/starts_$m.err" || die "tasks --start-method $m failed (see $OUT/starts_$m.err)"
  D[$m]=$(result start_ms "$OUT/starts_$m.txt")
done
for m in fork forkserver spawn; do
  echo "bench: python $m ..." >&2
  L[p$m]=$(cut -d' ' -f1 /proc/loadavg)
  "$PY" "$ROOT/bench/py_pool.py" --cnf "$CNF" --start-method "$m" --starts "$PY_STARTS" start \
    >"$OUT/starts_py_$m.txt" 2>"$OUT/starts_py_$m.err" ||
    die "py_pool.py --start-method $m failed (see $OUT/starts_py_$m.err)"
  P[$m]=$(result py_start_ms "$OUT/starts_py_$m.txt")
done

echo
echo "pool start, 2 workers connected (ms, median; dbfork of $STARTS, python of $PY_STARTS)"
printf '%-12s %10s %10s %12s %10s   %s\n' method dbfork python python/dbfork "/ fork" "1-min load (dbfork, python)"
for m in fork forkserver spawn; do
  printf '%-12s %10s %10s %12s %10s   %s, %s\n' "$m" "${D[$m]}" "${P[$m]}" \
    "$(awk -v a="${P[$m]}" -v b="${D[$m]}" 'BEGIN {printf "%.1fx", a / b}')" \
    "$(awk -v a="${D[$m]}" -v b="${D[fork]}" 'BEGIN {printf "%.2fx", a / b}')" "${L[d$m]}" "${L[p$m]}"
done
echo "targets: forkserver <= 1.5x fork; spawn >= 10x faster than python spawn"
