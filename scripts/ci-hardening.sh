#!/usr/bin/env bash
# scripts/ci-hardening.sh — the hardening legs of CI (issue 5), run by .ci/run
# after the main suite. Installs nothing: it uses what scripts/setup-debian.sh
# installs (clang, libclang-rt-14-dev, valgrind, clang-format).
#
#   scripts/ci-hardening.sh [STEP...]      default: symbols asan tsan valgrind fuzz format
#
# Steps (each prints a one-line verdict; the script exits non-zero if any failed):
#   symbols   nm -D --defined-only libdbfork.so: every exported symbol has the
#             dbfork_ prefix (internal dbfork__ ones are not exported either),
#             and it is exactly the set of DBFORK_EXTERN functions in dbfork.h.
#   asan      a second build dir (build-asan) with -DDBFORK_SANITIZE=ON
#             (ASan + UBSan, -fno-sanitize-recover), clang if present, and the
#             whole ctest suite with halt_on_error=1:detect_leaks=1. Workers
#             are forked from the test processes, so they inherit the
#             sanitizers; see docs/hardening.md for LeakSanitizer and _exit().
#   valgrind  a plain -O1 -g build (build-valgrind) whose test binaries run
#             under valgrind memcheck through CMAKE_CROSSCOMPILING_EMULATOR
#             (workers are forked, not exec'd: memcheck follows them; the
#             CLI tests exec $DBFORK_CLI, hence --trace-children=yes), over
#             the integration tests that exercise the pool (VALGRIND_TESTS).
#             One log per process; any error or definite leak fails the step.
#             Suppressions: tests/hardening/valgrind.supp (third-party only).
#   tsan      a ThreadSanitizer build (build-tsan, clang, -DDBFORK_TSAN=ON) and
#             the integration and fault suites (TSAN_TESTS) with
#             DBFORK_TEST_SUBMIT_THREADS=4: the tests that submit from
#             threads (it_threads, the threaded fault tests) use 4. One report
#             file per process; any report fails the step.
#             Suppressions: tests/hardening/tsan.supp (third-party only).
#   fuzz      libFuzzer builds (build-fuzz, clang, -DDBFORK_FUZZ=ON) of
#             tests/fuzz/fuzz_proto.c + src/proto.c, fuzz_exec_wire.c +
#             src/exec/exec_wire.c (exec's chunk and reply), fuzz_load_wire.c +
#             src/load/wire.c (the loader's part and reply), and tests/fuzz/fuzz_csv.c
#             + src/load/csv.c, each run FUZZ_SECONDS over a copy of its seed
#             corpus; prints the exec count. A crash fails the step and the
#             reproducer is kept in build-fuzz/artifacts/.
#   format    clang-format --dry-run over the tracked C sources; any difference
#             fails the step (DBFORK_CHECK_FORMAT=0: report only).
#
# Environment:
#   DBFORK_BUILD_DIR     the main build (for `symbols`); default ROOT/build.
#                        Built here if it has no libdbfork.so yet.
#   DBFORK_HARDEN_PREFIX prefix of the extra build dirs; default ROOT/build
#                        (-> build-asan, build-valgrind, build-fuzz; git-ignored)
#   FUZZ_SECONDS         per fuzz target; default 60
#   VALGRIND_TESTS       ctest -R regex for the valgrind step (default below)
#   TSAN_TESTS           ctest -R regex for the tsan step (default: the integration
#                        and fault suites)
#   DBFORK_CHECK_FORMAT  0: the format step only reports differences (default 1)
#   JOBS                 build and ctest parallelism; default 2
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
MAIN_BUILD=${DBFORK_BUILD_DIR:-$ROOT/build}
PREFIX=${DBFORK_HARDEN_PREFIX:-$ROOT/build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-2}
# The pool-exercising integration tests: the parent's own connection,
# sessions, finalizers, submit, waiting for idle, named tasks, the caller's
# loop, initializer failure, clean
# close/terminate (Aborted_clients), the examples (map, finalizer, caller's
# loop), and the CLI demo (exec'd: --trace-children). it_map's 100k-task run
# and the fault tests are left out: too slow under memcheck, or timing-bound.
VALGRIND_TESTS=${VALGRIND_TESTS:-'^(it_parent_connection|it_sessions|it_finalizers|it_submit|it_idle|it_tasks|it_caller_loop|it_init_failure|it_aborted_clients\.aborted_clients_unchanged_after_(close_join|terminate)|example\.|hardening_credentials\.password_from_option_file_not_in_cmdline)'}

TSAN_TESTS=${TSAN_TESTS:-'^(it_|fault_)'}

FAILED=()
PASSED=()
T0=$SECONDS

say() { printf '\n=== %s\n' "$*"; }
verdict() { # step rc detail
  if [ "$2" -eq 0 ]; then
    PASSED+=("$1")
    printf '%s: PASS %s (%ds)\n' "$1" "${3:-}" $((SECONDS - STEP_T0))
  else
    FAILED+=("$1")
    printf '%s: FAIL %s (%ds)\n' "$1" "${3:-}" $((SECONDS - STEP_T0))
  fi
}

pick_cc() { # clang if present (libFuzzer, better UBSan), else gcc
  if command -v clang >/dev/null 2>&1; then echo clang; else echo gcc; fi
}

configure() { # dir cc extra-args...
  local dir=$1 cc=$2
  shift 2
  mkdir -p "$dir"
  # No @spawn runs of the integration suite here (the main suite has them):
  # a third run of it under ASan, TSan or valgrind would cost CI ~minutes.
  cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DDBFORK_WERROR=ON \
    -DDBFORK_BUILD_TESTS=ON -DDBFORK_TEST_SPAWN=OFF "$@" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; return 1; }
  cmake --build "$dir" -j"$JOBS" >"$dir/build.log" 2>&1 ||
    { tail -n 60 "$dir/build.log"; return 1; }
}

# ---------------------------------------------------------------------------
# One library against its header: every exported symbol is a DBFORK_EXTERN
# function of the header, and every such function is exported.
check_symbols() {
  local so=$1 hdr=$2 bad want got rc=0
  got=$(nm -D --defined-only "$so" | awk '{print $3}' | sort -u)
  bad=$(grep -v '^dbfork_' <<<"$got"; grep '^dbfork__' <<<"$got")
  if [ -n "$bad" ]; then
    echo "$(basename "$so"): exported without the dbfork_ prefix (or internal dbfork__):"
    sed 's/^/  /' <<<"$bad"
    rc=1
  fi
  want=$(tr '\n' ' ' <"$hdr" | grep -oP 'DBFORK_EXTERN[^(;]*?\K\bdbfork_\w+(?=\s*\()' | sort -u)
  if [ "$want" != "$got" ]; then
    echo "$(basename "$so"): exported symbols differ from the DBFORK_EXTERN functions of ${hdr#"$ROOT"/}:"
    diff <(echo "$want") <(echo "$got") | grep '^[<>]' |
      sed 's/^</  declared, not exported:/; s/^>/  exported, not declared:/'
    rc=1
  fi
  echo "$(basename "$so"): $(wc -l <<<"$got") symbols exported, all declared in ${hdr#"$ROOT"/}"
  return $rc
}

step_symbols() {
  say "symbols: exported symbols of libdbfork.so, libdbfork-load.so and libdbfork-exec.so"
  local rc=0
  if [ ! -e "$MAIN_BUILD/libdbfork.so" ] || [ ! -e "$MAIN_BUILD/libdbfork-load.so" ] ||
    [ ! -e "$MAIN_BUILD/libdbfork-exec.so" ]; then
    cmake -S "$ROOT" -B "$MAIN_BUILD" -DDBFORK_WERROR=ON >/dev/null &&
      cmake --build "$MAIN_BUILD" -j"$JOBS" --target dbfork dbfork_load dbfork_exec >/dev/null ||
      return 1
  fi
  check_symbols "$MAIN_BUILD/libdbfork.so" "$ROOT/include/dbfork.h" || rc=1
  check_symbols "$MAIN_BUILD/libdbfork-load.so" "$ROOT/include/dbfork/load.h" || rc=1
  check_symbols "$MAIN_BUILD/libdbfork-exec.so" "$ROOT/include/dbfork/exec.h" || rc=1
  return $rc
}

# ---------------------------------------------------------------------------
step_asan() {
  local dir=$PREFIX-asan cc rc
  cc=$(pick_cc)
  say "asan: ASan+UBSan build ($cc) in $dir, whole ctest suite"
  configure "$dir" "$cc" -DDBFORK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug || return 1
  # halt_on_error: the first report ends the process (ctest sees a failure).
  # detect_leaks: LSan at exit() of every test process (the runner and each
  # test's forked child). abort_on_error=0 keeps the exit code at 1 so the
  # test runner reports it as a failure, not a signal.
  # Workers leave through _exit() after their finalizers, which skips LSan's
  # atexit check; docs/hardening.md says what that means.
  # Reports also go to one file per process (log_path), so that a report in
  # a process whose failure the test tolerated (a worker the pool replaced)
  # still fails this step; ctest only shows the output of failed tests.
  # Known limitation, not a dbfork bug: the ASan runtime of clang 14 (and 16)
  # does not intercept fork(), so a fork while another thread of the process
  # is inside malloc can leave the child blocked on the allocator's lock
  # forever (glibc's malloc resets its locks at fork; ASan's does not). The
  # test below has a helper thread whose MySQL calls race the pool's respawn
  # of a killed worker by design; it hangs the replacement in about 1 run in
  # 5 under ASan (seen with gdb: the child waits in
  # SizeClassAllocator64::GetFromAllocator). It runs in the main suite and
  # under valgrind. Any other test that fails here is retried once
  # (--repeat until-pass:2) for the same reason, and the retry is printed.
  local asan_exclude='^fault_lost_worker\.killed_worker_releases_its_row_lock_at_once$'
  local logs=$dir/sanitizer-logs
  rm -rf "$logs"
  mkdir -p "$logs"
  (cd "$dir" &&
    ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:check_initialization_order=1:detect_stack_use_after_return=1:log_path=$logs/asan \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan \
      LSAN_OPTIONS=suppressions=$ROOT/tests/hardening/lsan.supp:print_suppressions=0 \
      ctest -j"$JOBS" --output-on-failure --timeout 600 -E "$asan_exclude" \
        --repeat until-pass:2 >"$dir/ctest.log" 2>&1)
  rc=$?
  echo "excluded under ASan (fork vs. the ASan allocator, see above): $asan_exclude"
  grep -E '^[0-9]+% tests passed|tests failed out of|^\s+[0-9]+ - |Total Test time' \
    "$dir/ctest.log"
  grep -E 'Test +#[0-9]+: .*\*\*\*Failed' "$dir/ctest.log" | sed 's/^/retried after: /' || true
  if [ -n "$(ls -A "$logs")" ]; then
    # One line per distinct finding (with how many processes hit it), then
    # the first full report of each.
    echo "sanitizer reports from $(ls "$logs" | wc -l) processes ($logs):"
    grep -hE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$logs"/* |
      sed -E 's/^==[0-9]+==//' | sort | uniq -c | sort -rn | head -n 20
    local seen="" f key
    for f in "$logs"/*; do
      key=$(grep -m1 -hE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$f" | sed -E 's/^==[0-9]+==//')
      case "$seen" in *"|$key|"*) continue ;; esac
      seen="$seen|$key|"
      echo "---- $f"
      head -n 30 "$f"
    done
    rc=1
  else
    echo "no sanitizer report from any process"
  fi
  return $rc
}

# ---------------------------------------------------------------------------
step_tsan() {
  local dir=$PREFIX-tsan logs rc
  say "tsan: ThreadSanitizer build (clang) in $dir, $TSAN_TESTS with 4 submitting threads"
  command -v clang >/dev/null || { echo "clang not installed"; return 1; }
  configure "$dir" clang -DDBFORK_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  logs=$dir/sanitizer-logs
  rm -rf "$logs"
  mkdir -p "$logs"
  # halt_on_error: the first report ends the process, and every report also
  # goes to a file per process (log_path), so that one in a process whose
  # failure a test tolerated (a worker the pool replaced) fails the step.
  # ctest adds the server fixture the selected tests require.
  (cd "$dir" &&
    DBFORK_TEST_SUBMIT_THREADS=4 \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/hardening/tsan.supp:log_path=$logs/tsan" \
      ctest -j"$JOBS" --output-on-failure --timeout 600 -R "$TSAN_TESTS" \
        >"$dir/ctest.log" 2>&1)
  rc=$?
  grep -E '^[0-9]+% tests passed|tests failed out of|^\s+[0-9]+ - |Total Test time' "$dir/ctest.log"
  if [ -n "$(ls -A "$logs")" ]; then
    echo "ThreadSanitizer reports from $(ls "$logs" | wc -l) processes ($logs):"
    grep -h 'SUMMARY: ThreadSanitizer' "$logs"/* | sort | uniq -c | sort -rn | head -n 20
    head -n 60 "$(ls -d "$logs"/* | head -n1)"
    rc=1
  else
    echo "no ThreadSanitizer report from any process"
  fi
  return $rc
}

# ---------------------------------------------------------------------------
step_valgrind() {
  local dir=$PREFIX-valgrind logs rc n errs leaks
  say "valgrind: memcheck over the pool's integration tests ($VALGRIND_TESTS)"
  command -v valgrind >/dev/null || { echo "valgrind not installed"; return 1; }
  logs=$dir/valgrind-logs
  # Every test binary registered with add_test(COMMAND target) is run through
  # the emulator: valgrind with one log file per process (%p), so forked
  # workers and exec'd CLI processes each get theirs.
  local vg="valgrind;--tool=memcheck;--trace-children=yes;--child-silent-after-fork=no"
  vg+=";--track-origins=yes;--leak-check=full;--show-leak-kinds=definite"
  vg+=";--errors-for-leak-kinds=definite;--error-exitcode=97;--num-callers=30"
  vg+=";--suppressions=$ROOT/tests/hardening/valgrind.supp"
  vg+=";--trace-children-skip=*/bash,*/sh,*/mariadb*,*/mysql*,*/cmake,*/sleep,*/cat"
  vg+=";--log-file=$logs/vg.%p.log"
  configure "$dir" gcc -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 \
    "-DCMAKE_CROSSCOMPILING_EMULATOR=$vg" || return 1
  rm -rf "$logs"
  mkdir -p "$logs"
  # Memcheck makes everything ~10-20x slower: one test at a time. The
  # selected tests finish well within their own timeouts; the step's verdict
  # comes from the logs (a child's leak does not change the parent's exit
  # code), the ctest result from the tests' own checks.
  (cd "$dir" &&
    ctest -j1 --output-on-failure --timeout 900 -R "$VALGRIND_TESTS" \
    >"$dir/ctest.log" 2>&1)
  rc=$?
  tail -n 15 "$dir/ctest.log"
  n=$(find "$logs" -name 'vg.*.log' | wc -l)
  # A process's log ends with its ERROR SUMMARY (and the leak summary): list
  # every log with errors or a definite leak.
  errs=$(grep -L 'ERROR SUMMARY: 0 errors' "$logs"/vg.*.log 2>/dev/null)
  leaks=$(grep -lE 'definitely lost: [1-9]' "$logs"/vg.*.log 2>/dev/null)
  if [ -n "$errs$leaks" ]; then
    echo "memcheck findings:"
    for f in $(printf '%s\n%s\n' "$errs" "$leaks" | sort -u); do
      [ -n "$f" ] || continue
      echo "---- $f ($(sed -n 's/^==[0-9]*== Command: //p' "$f" | head -n1))"
      grep -E '^==[0-9]+== ( |[A-Z])' "$f" | grep -vE 'Copyright|Using Valgrind|Command:|Parent PID' |
        head -n 60
    done
    rc=1
  fi
  echo "$n processes checked by memcheck (logs: $logs)"
  grep -h 'ERROR SUMMARY' "$logs"/vg.*.log | sed -E 's/^==[0-9]+== //; s/ \(suppressed.*//' |
    sort | uniq -c | sed 's/^ */  /; s/ ERROR SUMMARY:/ processes: ERROR SUMMARY:/'
  grep -h 'definitely lost:' "$logs"/vg.*.log | sed -E 's/^==[0-9]+== +//' | sort | uniq -c |
    sed 's/^ */  /; s/ definitely/ processes: definitely/'
  [ "$n" -gt 0 ] || { echo "no process ran under valgrind"; rc=1; }
  return $rc
}

# ---------------------------------------------------------------------------
step_fuzz() {
  local dir=$PREFIX-fuzz rc=0 t bin corpus work log execs
  say "fuzz: libFuzzer targets, ${FUZZ_SECONDS}s each"
  command -v clang >/dev/null || { echo "clang not installed"; return 1; }
  mkdir -p "$dir"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER=clang -DDBFORK_FUZZ=ON \
    -DDBFORK_BUILD_TESTS=ON >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; return 1; }
  mkdir -p "$dir/artifacts"
  for t in proto csv load_wire exec_wire; do
    corpus=$ROOT/tests/fuzz/corpus_$t
    if [ ! -f "$ROOT/tests/fuzz/fuzz_$t.c" ]; then
      echo "fuzz_$t: tests/fuzz/fuzz_$t.c missing"
      rc=1
      continue
    fi
    cmake --build "$dir" -j"$JOBS" --target "fuzz_$t" >"$dir/build-$t.log" 2>&1 ||
      { tail -n 40 "$dir/build-$t.log"; rc=1; continue; }
    bin=$(find "$dir" -type f -name "fuzz_$t" -perm -u+x | head -n1)
    # New inputs go to a scratch corpus; the checked-in seeds are only read.
    work=$dir/corpus_${t}_work
    mkdir -p "$work"
    log=$dir/fuzz_$t.log
    "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/fuzz_$t-" "$work" "$corpus" >"$log" 2>&1
    local frc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    local cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' "$log" | tail -n1)
    local seeds=$(find "$corpus" -type f | wc -l)
    if [ $frc -ne 0 ]; then
      echo "fuzz_$t: CRASH or failure (exit $frc) after ${execs:-?} execs; artifacts:"
      ls "$dir/artifacts" | grep "fuzz_$t-" | sed 's/^/  /'
      grep -E 'ERROR|runtime error|invariant|SUMMARY|^fuzz_' "$log" | head -n 20
      rc=1
    else
      echo "fuzz_$t: ${execs:-?} execs in ${FUZZ_SECONDS}s from $seeds seeds, no crash ($cov)"
    fi
  done
  return $rc
}

# ---------------------------------------------------------------------------
step_format() {
  local files n=0 f out
  say "format: clang-format --dry-run (.clang-format)"
  command -v clang-format >/dev/null || { echo "clang-format not installed"; return 1; }
  cd "$ROOT" || return 1
  # The tracked sources only: build trees and generated files do not count.
  files=$(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/*.[ch]' 'examples/*.c' 'bench/*.c' |
    sort)
  for f in $files; do
    out=$(clang-format --dry-run --style=file "$f" 2>&1 | grep -c 'warning:')
    if [ "$out" -gt 0 ]; then
      n=$((n + 1))
      printf '  %-50s %d places\n' "$f" "$out"
    fi
  done
  echo "$n of $(wc -w <<<"$files") files differ from .clang-format"
  if [ "${DBFORK_CHECK_FORMAT:-1}" = 1 ] && [ $n -gt 0 ]; then
    echo "fix with: clang-format -i FILE (DBFORK_CHECK_FORMAT=0 only reports)"
    return 1
  fi
  [ $n -eq 0 ] || echo "(not enforced: DBFORK_CHECK_FORMAT=0)"
  return 0
}

# ---------------------------------------------------------------------------
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(symbols asan tsan valgrind fuzz format)
for s in "${STEPS[@]}"; do
  case "$s" in
    symbols | asan | tsan | valgrind | fuzz | format) ;;
    *)
      echo "usage: $0 [symbols|asan|tsan|valgrind|fuzz|format]..." >&2
      exit 64
      ;;
  esac
done
for s in "${STEPS[@]}"; do
  STEP_T0=$SECONDS
  "step_$s"
  verdict "$s" $?
done
printf '\nhardening steps passed: %s; failed: %s; %ds\n' "${PASSED[*]:-none}" \
  "${FAILED[*]:-none}" $((SECONDS - T0))
printf 'hardening: %d passed, %d failed\n' ${#PASSED[@]} ${#FAILED[@]}
[ ${#FAILED[@]} -eq 0 ]
