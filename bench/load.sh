#!/usr/bin/env bash
# bench/load.sh — `dbfork load` against the usual ways of bulk-loading a CSV
# into MySQL/MariaDB, in one run, on one throwaway server (issue 4).
#
#   bench/load.sh                      # everything (about 10 minutes on 2 cores)
#   REPEAT=1 BIG=0 bench/load.sh       # one round, no 10x check
#
# What it does:
#  1. builds a small C generator and writes a deterministic CSV of ROWS rows
#     (default 1,000,000, about 64 MB): id, customer_id, amount DECIMAL(12,2),
#     created_at DATETIME, a short note (some quoted with a comma, 1% \N). The
#     generator also prints the expected COUNT(*), SUM(id) and
#     SUM(CRC32(CONCAT_WS('|', id, customer_id, amount, created_at,
#     IFNULL(note,'<NULL>')))), so every load is checked against the file, not
#     against another tool;
#  2. starts a throwaway MariaDB (tests/server.sh start $WORK/server) and
#     creates dbfork_bench.bench_orders from sql/bench_orders.sql;
#  3. runs, REPEAT rounds (tools interleaved within a round, so load from
#     elsewhere on the machine hits them alike), each run on an empty table and
#     followed by the row count + checksum check:
#       dbfork load, 2 and 4 workers, --method load-data and insert, and 2
#         workers --method bulk (array binding, values bound in place)
#       one connection: mariadb --local-infile=1 -e 'LOAD DATA LOCAL INFILE ...'
#       mysqlimport --use-threads=2 --local on the file split into 2 parts
#       myloader --threads 2 on a mydumper dump of the loaded table
#       Python multiprocessing.Pool(2) + MySQLdb: each worker connects in its
#         initializer; 5,000-row chunks, executemany, commit per chunk;
#       bulk-probe-t2: bench/bulk_probe.c, MariaDB array binding
#         (COM_STMT_BULK_EXECUTE, 1,000-row batches) on the 2 halves (BULK=1);
#       two-servers-ceiling: the 2 halves by LOAD DATA, each into its own
#         server instance (a second tests/server.sh server), at once: what
#         two streams cost without contention inside one server, the ceiling
#         of this machine (CEILING=1);
#  4. prints rows/s (median of the rounds, and best), the client's and the
#     servers' CPU seconds per million rows, the ratio to mysqlimport-t2
#     (median, and for dbfork the worst round against mysqlimport-t2 in the
#     same round), and the check;
#  5. shows the dbfork parent's peak RSS (getrusage, from its --json) for the
#     file and for a 10x larger one (generated, loaded once, deleted), and
#     the 10x file's time against 10x the 1x median (the issue's 1.05x).
#
# Environment: ROWS (1000000), REPEAT (3), BIG (1: do the 10x run), BULK (1),
# CEILING (1),
# REDO (the server's redo log size, default 1G),
# WORK (bench/out/load), DBFORK (the binary; default build/dbfork, built if
# missing), CHUNK (dbfork --chunk-size, default: dbfork's own),
# KEEP_SERVER (1: leave the server running).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WORK=${WORK:-$ROOT/bench/out/load}
ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-3}
BIG=${BIG:-1}
CHUNK=${CHUNK:-}
DB=dbfork_bench
PY=/usr/bin/python3

die() {
  echo "bench/load.sh: $*" >&2
  exit 1
}
for t in mariadb mysqlimport mydumper myloader cc; do
  command -v $t >/dev/null || die "$t not found (Debian: mariadb-client, mydumper, gcc)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian: time)"
$PY -c 'import MySQLdb' 2>/dev/null || die "$PY lacks MySQLdb (Debian: python3-mysqldb)"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)

# ---------------------------------------------------------------- dbfork
DBFORK=${DBFORK:-$ROOT/build/dbfork}
if [ ! -x "$DBFORK" ]; then
  echo "building dbfork into $WORK/build ..."
  cmake -S "$ROOT" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DDBFORK_BUILD_TESTS=OFF \
    >"$WORK/build.log" 2>&1 || die "cmake failed (see $WORK/build.log)"
  cmake --build "$WORK/build" -j2 --target dbfork_cli >>"$WORK/build.log" 2>&1 ||
    die "build failed (see $WORK/build.log)"
  DBFORK=$WORK/build/dbfork
fi

# ------------------------------------------------------------- generator
cat >"$WORK/gen.c" <<'EOF'
/* Deterministic bench CSV: id,customer_id,amount,created_at,note.
 * usage: gen ROWS FILE; prints "count sum_id sum_crc" of what it wrote, as
 * the server computes it (CRC32 of CONCAT_WS('|', ..., IFNULL(note,'<NULL>'))). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static uint32_t T[256];
static uint32_t crc(const char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  while (n--) c = T[(c ^ (unsigned char)*p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}
int main(int argc, char **argv) {
  static char obuf[1 << 20];
  static const char *const words[] = {"shipped to zone", "gift, wrapped", "returned item",
                                      "express, insured", "pickup at store", "backordered item"};
  uint64_t n, i, sum_id = 0, sum_crc = 0;
  char line[256], val[256], dt[32], note[64], amt[32], date_part[16];
  int days_cache = -1;
  uint32_t k;
  FILE *f;
  if (argc != 3) return 2;
  n = strtoull(argv[1], NULL, 10);
  if (!(f = fopen(argv[2], "w"))) return 1;
  for (k = 0; k < 256; k++) {
    uint32_t v = k;
    int b;
    for (b = 0; b < 8; b++) v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
    T[k] = v;
  }
  setvbuf(f, obuf, _IOFBF, sizeof obuf);
  for (i = 1; i <= n; i++) {
    uint64_t h = i * 0x9e3779b97f4a7c15ull;
    unsigned cust;
    long long cents;
    unsigned long long a;
    uint64_t secs;
    int days, rem, len, vl, null;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    cust = (unsigned)(h % 100000u) + 1;
    cents = (long long)((h >> 17) % 2000000u) - 200000;
    a = (unsigned long long)(cents < 0 ? -cents : cents);
    secs = (h >> 7) % (3ull * 365 * 86400);
    days = (int)(secs / 86400);
    rem = (int)(secs % 86400);
    null = (h >> 50) % 97 == 0;
    if (days != days_cache) {
      time_t t = (time_t)1704067200 + (time_t)days * 86400;
      struct tm tm;
      gmtime_r(&t, &tm);
      strftime(date_part, sizeof date_part, "%Y-%m-%d", &tm);
      days_cache = days;
    }
    snprintf(dt, sizeof dt, "%s %02d:%02d:%02d", date_part, rem / 3600, rem / 60 % 60, rem % 60);
    snprintf(amt, sizeof amt, "%s%llu.%02llu", cents < 0 ? "-" : "", a / 100, a % 100);
    snprintf(note, sizeof note, "%s %06u", words[(h >> 40) % 6], (unsigned)((h >> 20) % 1000000u));
    if (null)
      len = snprintf(line, sizeof line, "%llu,%u,%s,%s,\\N\n", (unsigned long long)i, cust, amt, dt);
    else if (strchr(note, ','))
      len = snprintf(line, sizeof line, "%llu,%u,%s,%s,\"%s\"\n", (unsigned long long)i, cust, amt,
                     dt, note);
    else
      len = snprintf(line, sizeof line, "%llu,%u,%s,%s,%s\n", (unsigned long long)i, cust, amt, dt,
                     note);
    fwrite(line, 1, (size_t)len, f);
    vl = snprintf(val, sizeof val, "%llu|%u|%s|%s|%s", (unsigned long long)i, cust, amt, dt,
                  null ? "<NULL>" : note);
    sum_id += i;
    sum_crc += crc(val, (size_t)vl);
  }
  if (fclose(f)) return 1;
  printf("%llu %llu %llu\n", (unsigned long long)n, (unsigned long long)sum_id,
         (unsigned long long)sum_crc);
  return 0;
}
EOF
cc -O2 -o "$WORK/gen" "$WORK/gen.c" || die "cannot compile the generator"

gen() { # ROWS FILE -> FILE and FILE.sum
  if [ ! -s "$2" ] || [ ! -s "$2.sum" ] || [ "$(cut -d' ' -f1 "$2.sum")" != "$1" ]; then
    "$WORK/gen" "$1" "$2" >"$2.sum.tmp" || die "generator failed"
    mv "$2.sum.tmp" "$2.sum"
  fi
}
CSV=$WORK/orders-$ROWS.csv
echo "generating $CSV ..."
gen "$ROWS" "$CSV"
read -r WANT_COUNT WANT_SUMID WANT_CRC <"$CSV.sum"

# ---------------------------------------------------------------- server
SRV=$WORK/server
bash "$ROOT/tests/server.sh" start "$SRV" >/dev/null
CNF=$SRV/client.cnf
SOCK=$(bash "$ROOT/tests/server.sh" socket "$SRV")
SRVPID=$(tr -dc 0-9 <"$SRV/mysqld.pid")
CEILING=${CEILING:-1}
SRV2=$WORK/server2
SRVPIDS=$SRVPID
if [ "$CEILING" = 1 ]; then
  bash "$ROOT/tests/server.sh" start "$SRV2" >/dev/null
  CNF2=$SRV2/client.cnf
  SRVPIDS="$SRVPID $(tr -dc 0-9 <"$SRV2/mysqld.pid")"
fi
stop_server() {
  if [ "${KEEP_SERVER:-0}" != 1 ]; then
    bash "$ROOT/tests/server.sh" stop "$SRV" >/dev/null 2>&1 || true
    [ "$CEILING" != 1 ] || bash "$ROOT/tests/server.sh" stop "$SRV2" >/dev/null 2>&1 || true
  fi
}
trap stop_server EXIT
read -r DBUSER DBPW < <(awk -F= '/^user=/{u=$2} /^password=/{p=$2} END{print u, p}' "$CNF")
sql() { mariadb --defaults-file="$CNF" --batch --skip-column-names "$@"; }
# A redo log big enough for a whole load, as one would set it for bulk loads:
# with tests/server.sh's 128M, every load of the 1M-row file pushed the
# checkpoint age to ~95 MB and made InnoDB's page cleaner flush furiously
# mid-run, which moved each tool's time by up to 40% from run to run
# (innodb_log_file_size is dynamic since MariaDB 10.9).
REDO=${REDO:-1G}
sql2() { mariadb --defaults-file="$CNF2" --batch --skip-column-names "$@"; }
sql -e "SET GLOBAL innodb_log_file_size = $(numfmt --from=iec "$REDO")"
sql -e "CREATE DATABASE IF NOT EXISTS $DB; USE $DB; DROP TABLE IF EXISTS bench_orders;
        DROP TABLE IF EXISTS dbfork_load_progress; SOURCE $ROOT/sql/bench_orders.sql;"
if [ "$CEILING" = 1 ]; then # the second instance: the same settings, the same table
  sql2 -e "SET GLOBAL innodb_log_file_size = $(numfmt --from=iec "$REDO")"
  sql2 -e "CREATE DATABASE IF NOT EXISTS $DB; USE $DB; DROP TABLE IF EXISTS bench_orders;
           SOURCE $ROOT/sql/bench_orders.sql;"
fi

CHECKSUM_SQL="SELECT COUNT(*), IFNULL(SUM(id),0), IFNULL(SUM(CRC32(CONCAT_WS('|', id, customer_id,
  amount, created_at, IFNULL(note,'<NULL>')))),0) FROM $DB.bench_orders"
# The counts and sums add up: with the second instance, the table there
# (empty but for the ceiling run) is counted in.
check() { # WANT_COUNT WANT_SUMID WANT_CRC -> "ok" or "MISMATCH ..."
  local got c i k c2=0 i2=0 k2=0
  read -r c i k < <(sql -e "$CHECKSUM_SQL")
  [ "$CEILING" != 1 ] || read -r c2 i2 k2 < <(sql2 -e "$CHECKSUM_SQL")
  got="$((c + c2)) $((i + i2)) $((k + k2))" # shell integers: 64 bits, exact (awk's doubles are not)
  if [ "$got" = "$1 $2 $3" ]; then echo ok; else echo "MISMATCH(got $got, want $1 $2 $3)"; fi
}
empty_table() { # (re)creates the table if a tool dropped it; empties it and the progress table
  sql $DB -e "SOURCE $ROOT/sql/bench_orders.sql; SOURCE $ROOT/sql/load_progress.sql;
              TRUNCATE TABLE bench_orders; DELETE FROM dbfork_load_progress;"
  [ "$CEILING" != 1 ] || sql2 $DB -e "TRUNCATE TABLE bench_orders"
}

# --------------------------------------------------------- preparations
LOAD_SQL="LOAD DATA LOCAL INFILE '$CSV' INTO TABLE bench_orders FIELDS TERMINATED BY ','
  OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'
  (id, customer_id, amount, created_at, note)"
echo "preparing: split parts for mysqlimport, a mydumper dump for myloader ..."
rm -rf "$WORK/parts" "$WORK/dump"
mkdir -p "$WORK/parts/1" "$WORK/parts/2"
split -n l/2 -d "$CSV" "$WORK/parts/x"
mv "$WORK/parts/x00" "$WORK/parts/1/bench_orders.csv" # mysqlimport: table = file name
mv "$WORK/parts/x01" "$WORK/parts/2/bench_orders.csv"
empty_table
sql --local-infile=1 $DB -e "$LOAD_SQL"
[ "$(check $WANT_COUNT $WANT_SUMID $WANT_CRC)" = ok ] || die "the reference LOAD DATA does not match the generator"
mydumper -S "$SOCK" -u "$DBUSER" -p "$DBPW" -B $DB -T bench_orders --rows 100000 -t 2 \
  -o "$WORK/dump" >"$WORK/mydumper.log" 2>&1 || die "mydumper failed (see $WORK/mydumper.log)"
cat >"$WORK/pool.py" <<'EOF'
# The Python baseline: multiprocessing.Pool(2) + MySQLdb, a connection per
# worker opened in the initializer, 5,000-row chunks, executemany, a commit
# per chunk. The parent reads lines; workers parse them (csv module).
import csv, multiprocessing, sys
import MySQLdb
SOCK, USER, PW, DB, PATH = sys.argv[1:6]
CHUNK = 5000
conn = None
def init():
    global conn
    conn = MySQLdb.connect(unix_socket=SOCK, user=USER, passwd=PW, db=DB, charset='utf8mb4')
def load(lines):
    rows = [[None if f == '\\N' else f for f in r] for r in csv.reader(lines)]
    cur = conn.cursor()
    cur.executemany("INSERT INTO bench_orders (id, customer_id, amount, created_at, note) "
                    "VALUES (%s, %s, %s, %s, %s)", rows)
    conn.commit()
    return len(rows)
def chunks(path):
    with open(path, newline='') as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) == CHUNK:
                yield buf
                buf = []
        if buf:
            yield buf
if __name__ == '__main__':
    with multiprocessing.Pool(2, initializer=init) as pool:
        print(sum(pool.imap_unordered(load, chunks(PATH))))
EOF

# ------------------------------------------------------------- measuring
TCK=$(getconf CLK_TCK)
# utime + stime of the server(s), in seconds
srv_cpu() { for p in $SRVPIDS; do cat "/proc/$p/stat"; done | awk -v t="$TCK" '{s += $14 + $15} END {printf "%.2f", s / t}'; }
now() { date +%s.%N; }
RESULTS=$WORK/results.tsv
: >"$RESULTS"
# run NAME CMD... : empty table, run, check, record. For dbfork runs the peak
# RSS of the parent and of the largest worker come from its --json summary
# (getrusage: the same figure as VmHWM), so nothing polls /proc beside it.
run() {
  local name=$1 log tf s0 c0 s1 c1 rc p w st u sy
  shift
  empty_table
  log=$WORK/$name.log
  tf=$WORK/$name.time
  sync
  s0=$(srv_cpu)
  c0=$(now)
  rc=0
  /usr/bin/time -f "%U %S" -o "$tf" "$@" >"$log" 2>&1 || rc=$?
  c1=$(now)
  s1=$(srv_cpu)
  p=$(grep -o '"peak_rss_kb":[0-9]*' "$log" | cut -d: -f2 || true)
  w=$(grep -o '"worker_peak_rss_kb":[0-9]*' "$log" | cut -d: -f2 || true)
  p=${p:-0}
  w=${w:-0}
  st=$(check "${WANT:-$WANT_COUNT}" "${WANT_ID:-$WANT_SUMID}" "${WANT_C:-$WANT_CRC}")
  [ $rc = 0 ] || st="EXIT $rc (see $log) $st"
  read -r u sy <"$tf" || { u=0; sy=0; }
  awk -v n="$name" -v r="${WANT:-$WANT_COUNT}" -v a="$c0" -v b="$c1" -v u="$u" -v sy="$sy" \
    -v s0="$s0" -v s1="$s1" -v p="$p" -v w="$w" -v st="$st" -v rd="${ROUND:-0}" 'BEGIN {
      t = b - a; printf "%s\t%.3f\t%.0f\t%.2f\t%.2f\t%d\t%d\t%s\t%d\n", n, t, r / t, u + sy, s1 - s0, p, w, st, rd
    }' | tee -a "$RESULTS" | awk -F'\t' '{printf "  %-22s %7.2f s %9s rows/s  client cpu %6.2f s  server cpu %6.2f s  %s\n", $1, $2, $3, $4, $5, $8}'
}

CHUNKOPT=()
[ -n "$CHUNK" ] && CHUNKOPT=(--chunk-size="$CHUNK")
dbf() { # WORKERS METHOD [FILE] -> the dbfork command line in DBF
  DBF=("$DBFORK" load "${3:-$CSV}" --defaults-file="$CNF" --table $DB.bench_orders --restart --json
    -w "$1" --method "$2" "${CHUNKOPT[@]}")
}

# ---------------------------------------------------------------- report
LA0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%F %T UTC')
echo
echo "dbfork load benchmark — $START"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
echo "server: $(sql -e 'SELECT VERSION()') (tests/server.sh: buffer pool 256M, flush_log_at_trx_commit=2; redo log $(sql -e 'SELECT @@innodb_log_file_size DIV 1048576')M), same machine"
echo "file: $CSV, $ROWS rows, $(stat -c %s "$CSV") bytes; dbfork $("$DBFORK" version 2>/dev/null | head -1)${CHUNK:+, --chunk-size=$CHUNK}"
echo "load average at start: $LA0"
echo

# One tool by number; a round runs them all, starting one further each round,
# so no tool always runs first or right after the slow Python one.
BULK=${BULK:-1}
if [ "$BULK" = 1 ]; then
  # shellcheck disable=SC2046
  cc -O2 -o "$WORK/bulk_probe" "$ROOT/bench/bulk_probe.c" $(pkg-config --cflags --libs libmariadb) ||
    die "cannot compile bench/bulk_probe.c (needs MariaDB Connector/C)"
fi
HALF1=$WORK/parts/1/bench_orders.csv
HALF2=$WORK/parts/2/bench_orders.csv
# The two-streams-without-contention run as a script of its own (for
# /usr/bin/time): each half by one LOAD DATA into its own server, at once.
if [ "$CEILING" = 1 ]; then
  echo "${LOAD_SQL//$CSV/$HALF1};" >"$WORK/half1.sql"
  echo "${LOAD_SQL//$CSV/$HALF2};" >"$WORK/half2.sql"
  cat >"$WORK/ceiling.sh" <<EOF2
mariadb --defaults-file='$CNF' --local-infile=1 $DB <'$WORK/half1.sql' &
p=\$!
mariadb --defaults-file='$CNF2' --local-infile=1 $DB <'$WORK/half2.sql'
rc=\$?
wait \$p && exit \$rc
EOF2
fi
if [ -z "${TOOLS:-}" ]; then # TOOLS="10 5" by hand: just those, by number
  TOOLS="0 10 1 2 3 4 5 6 7"
  [ "$BULK" != 1 ] || TOOLS="$TOOLS 8"
  [ "$CEILING" != 1 ] || TOOLS="$TOOLS 9"
fi
read -r -a TOOLV <<<"$TOOLS"
NTOOLS=${#TOOLV[@]}
tool() {
  case $1 in
  0) dbf 2 load-data && run dbfork-w2-load-data "${DBF[@]}" ;;
  1) dbf 2 insert && run dbfork-w2-insert "${DBF[@]}" ;;
  2) dbf 4 load-data && run dbfork-w4-load-data "${DBF[@]}" ;;
  3) dbf 4 insert && run dbfork-w4-insert "${DBF[@]}" ;;
  4) run load-data-1conn mariadb --defaults-file="$CNF" --local-infile=1 $DB -e "$LOAD_SQL" ;;
  5) run mysqlimport-t2 mysqlimport --defaults-file="$CNF" --local --use-threads=2 \
    --fields-terminated-by=, --fields-optionally-enclosed-by='"' $DB \
    "$WORK/parts/1/bench_orders.csv" "$WORK/parts/2/bench_orders.csv" ;;
  6) run myloader-t2 myloader -S "$SOCK" -u "$DBUSER" -p "$DBPW" -d "$WORK/dump" --threads 2 -o ;;
  7) run python-pool2 "$PY" "$WORK/pool.py" "$SOCK" "$DBUSER" "$DBPW" $DB "$CSV" ;;
  8) run bulk-probe-t2 bash -c '"$1" "$2" "$3" "$4" & p=$!; "$1" "$2" "$3" "$5"; rc=$?; wait $p && exit $rc' \
    _ "$WORK/bulk_probe" "$CNF" $DB "$HALF1" "$HALF2" ;;
  9) run two-servers-ceiling bash "$WORK/ceiling.sh" ;;
  10) dbf 2 bulk && run dbfork-w2-bulk "${DBF[@]}" ;;
  esac
}
for round in $(seq 1 "$REPEAT"); do
  echo "round $round/$REPEAT ($(uptime | sed 's/.*load average/load average/'))"
  ROUND=$round
  for k in $(seq 0 $((NTOOLS - 1))); do tool "${TOOLV[$(((k + round - 1) % NTOOLS))]}"; done
done
ROUND=0
LA1=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "summary ($REPEAT round(s), $ROWS rows; rows/s median and best; CPU seconds per million rows, median;"
echo "  client = the tool and its children (/usr/bin/time), server = the mariadbd process(es) (/proc);"
echo "  vs mysqlimport-t2: medians, and the worst round against mysqlimport-t2 in the same round;"
echo "  uptime $LA0 -> $LA1)"
awk -F'\t' -v rows="$ROWS" -v ref=mysqlimport-t2 '
  { n[$1]++; r[$1, n[$1]] = $3; c[$1, n[$1]] = $4 * 1e6 / rows; s[$1, n[$1]] = $5 * 1e6 / rows
    if ($8 != "ok") bad[$1] = $8
    rr[$1, $9] = $3
    if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  function med(a, name, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = a[name, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  function max(a, name, m,   i, x) { x = 0; for (i = 1; i <= m; i++) if (a[name, i] + 0 > x) x = a[name, i]; return x }
  END {
    if (!(ref in seen)) ref = order[1]
    for (i = 1; i <= k; i++) { t = order[i]; M[t] = med(r, t, n[t]); B[t] = max(r, t, n[t]) }
    printf "%-22s %10s %10s %10s %10s %10s %9s %9s  %s\n", "tool", "rows/s med", "rows/s best", "client/M", "server/M", "total/M", "vs " substr(ref, 1, 6), "worst rd", "check"
    for (i = 1; i <= k; i++) { t = order[i]; worst = ""
      if (t ~ /^dbfork/) { w = 1e9
        for (j = 1; j <= n[t]; j++) if ((t, j) in rr && (ref, j) in rr && rr[ref, j] > 0 && rr[t, j] / rr[ref, j] < w) w = rr[t, j] / rr[ref, j]
        if (w < 1e9) worst = sprintf("%.2fx", w) }
      cm = med(c, t, n[t]); sm = med(s, t, n[t])
      printf "%-22s %10.0f %10.0f %9.2fs %9.2fs %9.2fs %8.2fx %9s  %s\n", t, M[t], B[t], cm, sm, cm + sm, M[t] / M[ref], worst, (t in bad) ? bad[t] : "ok" }
  }' "$RESULTS" | tee "$WORK/summary.txt"

# ------------------------------------------------------------ parent RSS
echo
echo "dbfork parent peak RSS (getrusage, from --json; the largest worker's beside it)"
peak=$(awk -F'\t' '$1 ~ /^dbfork-w2-load-data/ {print $6 "\t" $7}' "$RESULTS" | sort -n | tail -1)
printf "  %-34s parent %6s KB   worker %6s KB\n" "$ROWS rows, $(($(stat -c %s "$CSV") / 1048576)) MB:" \
  "$(echo "$peak" | cut -f1)" "$(echo "$peak" | cut -f2)"
if [ "$BIG" = 1 ]; then
  BIGROWS=$((ROWS * 10))
  BIGCSV=$WORK/orders-$BIGROWS.csv
  gen "$BIGROWS" "$BIGCSV"
  read -r WANT WANT_ID WANT_C <"$BIGCSV.sum"
  dbf 2 load-data "$BIGCSV"
  run dbfork-w2-load-data-10x "${DBF[@]}" >/dev/null
  line=$(tail -1 "$RESULTS")
  printf "  %-34s parent %6s KB   worker %6s KB   (%s rows/s, check %s)\n" \
    "$BIGROWS rows, $(($(stat -c %s "$BIGCSV") / 1048576)) MB:" "$(echo "$line" | cut -f6)" \
    "$(echo "$line" | cut -f7)" "$(echo "$line" | cut -f3)" "$(echo "$line" | cut -f8)"
  # The 10x file against 10 times the 1x file's median (target: <= 1.05x).
  awk -F'\t' '$1 == "dbfork-w2-load-data" { t[++n] = $2 } $1 == "dbfork-w2-load-data-10x" { big = $2 }
    END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
      m = n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
      printf "  10x file: %.2f s against 10 x %.2f s = %.2f s: %.3fx\n", big, m, 10 * m, big / (10 * m) }' "$RESULTS"
  rm -f "$BIGCSV" "$BIGCSV.sum"
  unset WANT WANT_ID WANT_C
  empty_table
fi
echo
echo "uptime at the end: $(uptime)"
echo "raw results: $RESULTS (name, seconds, rows/s, client cpu, server cpu, parent KB, worker KB, check, round)"
