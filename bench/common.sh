# bench/common.sh — sourced by bench/run.sh and bench/starts.sh: the Release
# build of libdbfork, bench/tasks.c and bench/cpu_of.c (OUT/build, OUT/tasks,
# OUT/cpu_of), and the throwaway server (tests/server.sh) at SRV, stopped at
# exit, whose client option file becomes CNF. Needs ROOT, OUT, SRV and a die() function.

bench_build() {
  echo "bench: building libdbfork (Release) and bench/tasks.c ..." >&2
  {
    cmake -S "$ROOT" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release -DDBFORK_BUILD_TESTS=OFF &&
      cmake --build "$OUT/build" --target dbfork -j2
  } >"$OUT/build.log" 2>&1 || {
    tail -30 "$OUT/build.log" >&2
    die "build failed (log: $OUT/build.log)"
  }
  # shellcheck disable=SC2046
  cc -O2 -Wall -Wextra -o "$OUT/tasks" "$ROOT/bench/tasks.c" -I"$ROOT/include" \
    $(pkg-config --cflags libmariadb 2>/dev/null || pkg-config --cflags mysqlclient) \
    -L"$OUT/build" -ldbfork -Wl,-rpath,"$OUT/build" \
    $(pkg-config --libs libmariadb 2>/dev/null || pkg-config --libs mysqlclient) -lpthread ||
    die "cannot compile bench/tasks.c"
  cc -O2 -Wall -Wextra -o "$OUT/cpu_of" "$ROOT/bench/cpu_of.c" || die "cannot compile bench/cpu_of.c"
}

# shellcheck disable=SC2317  # called by the EXIT trap
stop_server() { "$ROOT/tests/server.sh" stop "$SRV" >>"$SRV.log" 2>&1 || true; }

bench_server() {
  trap stop_server EXIT
  "$ROOT/tests/server.sh" start "$SRV" >"$SRV.log" 2>&1 || {
    cat "$SRV.log" >&2
    die "cannot start the throwaway server"
  }
  CNF=$SRV/client.cnf
}

# A value of the server's client option file: cnf socket, cnf user, ...
cnf() { awk -F= -v k="$1" '{gsub(/[ \t]/, "", $1)} $1 == k {sub(/^[ \t]*/, "", $2); print $2; exit}' "$CNF"; }
