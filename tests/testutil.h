/*
 * testutil.h — the test framework and database helpers shared by every dbfork
 * test (static library dbfork_testutil, built by tests/CMakeLists.txt).
 *
 * Framework
 * ---------
 * TEST(name) { ... } defines and registers a test. testutil supplies main()
 * (unless the test file defines its own):
 *
 *   ./bin              runs every test of the binary, in source order
 *   ./bin NAME...      runs the named tests
 *   ./bin --list       prints the test names
 *
 * Each test runs in a forked child in its own process group, with a timeout
 * (env DBFORK_TEST_TIMEOUT seconds, default 120), so a crash, a hang or an
 * exit() in one test cannot take the runner with it. The runner prints
 * "ok NAME (0.12 s)", "skip NAME: why" or "FAIL NAME (why)" and exits 0 when
 * nothing failed (77 when everything it ran was skipped), else 1.
 *
 * After a test ends, every process left in its process group (workers it
 * leaked) is reported and the test FAILS, once a 5 s grace period has passed
 * (workers of a killed parent need a moment to notice and run finalizers).
 * The runner is a child subreaper, so orphans of the test (workers of a
 * parent process the test killed) are reaped by it and never linger as
 * zombies.
 *
 * CHECK* failures print file:line, the expression and the values, then
 * exit(1). They may be used in any process the test forks.
 *
 * Database
 * --------
 * The server comes from the environment set by dbfork_db_test() in
 * tests/CMakeLists.txt: DBFORK_TEST_SOCKET, DBFORK_TEST_USER,
 * DBFORK_TEST_PASSWORD, DBFORK_TEST_DB, DBFORK_TEST_SERVER_SH,
 * DBFORK_TEST_SERVER_DIR, DBFORK_CLI.
 *
 * Parallel safety (ctest -j2): tests share one server. Use tables named after
 * the test (tu_test_name() — unique per binary+test) and count sessions by
 * the pool's program_name, which tu_options() makes unique per test. The
 * server-global counters (Aborted_clients, Threads_connected...) are shared:
 * a test that asserts a global counter is unchanged is safe because every
 * test that causes abnormal disconnects on purpose, or restarts the server,
 * is registered RUN_SERIAL (flags ABORTS_CLIENTS / RESTARTS_SERVER of
 * dbfork_db_test). Every connection made with tu_connect() is closed
 * cleanly (mysql_close) at exit by the process that opened it — including
 * after a failed CHECK — so test helpers never move Aborted_clients
 * themselves. A process forked by the test never closes its parent's
 * connections (that would send COM_QUIT on the parent's session).
 *
 * Aborted_clients (verified on MariaDB 10.11): +1 for a session that ends
 * without COM_QUIT (process exit/kill without mysql_close), that is KILLed,
 * or that hits wait_timeout; mysql_close() never moves it, nor does a failed
 * login (that is Aborted_connects). The server bumps it when it tears the
 * session down, asynchronously to the client: wait for the sessions to vanish
 * (tu_wait_sessions(m, prog, 0, ms)) before reading it. A server restart
 * resets it to 0.
 */
#ifndef DBFORK_TESTUTIL_H
#define DBFORK_TESTUTIL_H

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbfork.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Checks. Each one prints "file:line: FAILED: ..." and exits 1.
 * ------------------------------------------------------------------------- */
#define CHECK(cond)                                                \
  do {                                                             \
    if (!(cond)) tu__fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                      \
  do {                                                                                          \
    long long tu__a = (long long)(a), tu__b = (long long)(b);                                   \
    if (tu__a != tu__b)                                                                         \
      tu__fail(__FILE__, __LINE__, "CHECK_EQ_INT(%s, %s): %lld != %lld", #a, #b, tu__a, tu__b); \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                           \
  do {                                                                               \
    const char *tu__a = (a), *tu__b = (b);                                           \
    if (!tu__a || !tu__b ? tu__a != tu__b : strcmp(tu__a, tu__b) != 0)               \
      tu__fail(__FILE__, __LINE__, "CHECK_EQ_STR(%s, %s): \"%s\" != \"%s\"", #a, #b, \
               tu__a ? tu__a : "(null)", tu__b ? tu__b : "(null)");                  \
  } while (0)

#define CHECK_OK(rc)                                                       \
  do {                                                                     \
    int tu__rc = (int)(rc);                                                \
    if (tu__rc != 0)                                                       \
      tu__fail(__FILE__, __LINE__, "CHECK_OK(%s): %d %s: %s", #rc, tu__rc, \
               dbfork_err_name(tu__rc), dbfork_strerror(tu__rc));          \
  } while (0)

/* Extra comparisons (same failure behaviour). */
#define CHECK_NE_INT(a, b)                                                            \
  do {                                                                                \
    long long tu__a = (long long)(a), tu__b = (long long)(b);                         \
    if (tu__a == tu__b)                                                               \
      tu__fail(__FILE__, __LINE__, "CHECK_NE_INT(%s, %s): both %lld", #a, #b, tu__a); \
  } while (0)
#define CHECK_ERR(rc, code) /* rc == the DBFORK_E* code, with names on failure */                  \
  do {                                                                                             \
    int tu__rc = (int)(rc), tu__code = (int)(code);                                                \
    if (tu__rc != tu__code)                                                                        \
      tu__fail(__FILE__, __LINE__, "CHECK_ERR(%s, %s): got %d %s, want %d %s", #rc, #code, tu__rc, \
               dbfork_err_name(tu__rc), tu__code, dbfork_err_name(tu__code));                      \
  } while (0)

/* Fails the test with a printf-style message. */
#define FAIL(...) tu__fail(__FILE__, __LINE__, __VA_ARGS__)

/* The string `hay` (may be NULL: fails) holds `needle`. */
#define CHECK_CONTAINS(hay, needle)                                                           \
  do {                                                                                        \
    const char *tu__h = (hay), *tu__n = (needle);                                             \
    if (!tu__h || !strstr(tu__h, tu__n))                                                      \
      FAIL("CHECK_CONTAINS(%s, \"%s\"): not found in:\n%s", #hay, tu__n, tu__h ? tu__h : ""); \
  } while (0)

/* Ends the current test as skipped (exit code 77; ctest shows it as skipped). */
#define SKIP(...) tu__skip(__FILE__, __LINE__, __VA_ARGS__)

/* ---------------------------------------------------------------------------
 * Registry.
 * ------------------------------------------------------------------------- */
typedef void (*tu_test_fn)(void);
void tu__register(const char *name, tu_test_fn fn, const char *file, int line);

#define TEST(name)                                                \
  static void test_##name(void);                                  \
  __attribute__((constructor)) static void tu__reg_##name(void) { \
    tu__register(#name, test_##name, __FILE__, __LINE__);         \
  }                                                               \
  static void test_##name(void)

/* The same as TEST(name), and tells tests/CMakeLists.txt to register this
 * one test RUN_SERIAL (e.g. it restarts the server or kills sessions). */
#define TEST_SERIAL(name) TEST(name)

/* The runner: what testutil's main() calls. A test file with its own main()
 * may call it too. */
int tu_main(int argc, char **argv);

/* The running test: "NAME" and a name unique to this binary + test, made of
 * [A-Za-z0-9_] and at most 48 bytes ("<binary>_<test>", shortened with a hash
 * when too long): use it in table names, e.g. "t_%s". Static strings. */
const char *tu_test_name(void);
const char *tu_unique_name(void);

/* ---------------------------------------------------------------------------
 * Database helpers. Every helper fails the test (with the SQL and the server's
 * error) rather than returning an error.
 * ------------------------------------------------------------------------- */

/* A new connection to the test server (socket/user/password/db from env),
 * with connect attribute program_name "dbfork-testutil" (so tu_sessions never
 * counts it). Closed cleanly at exit if the test does not mysql_close() it.
 * Exits with a clear message when the server cannot be reached. */
MYSQL *tu_connect(void);

/* The test server's TCP port on 127.0.0.1 as a string, for tests in which
 * processes stand in for remote hosts: DBFORK_TEST_PORT if set (an external
 * server), else DBFORK_TEST_SERVER_DIR/port, written by tests/server.sh
 * (the fixture starts it with DBFORK_SERVER_PORT=auto). Fails the test when
 * the server listens on no port. */
const char *tu_tcp_port(void);

/* Appends the connection arguments of a dbfork command to argv:
 * --no-defaults, the server (-S socket; or, when tcp is set, -h 127.0.0.1
 * -P tu_tcp_port() --protocol=TCP), -u and --password= (written to pwbuf).
 * Returns how many it appended (at most TU_CLI_CONN_ARGS). */
#define TU_CLI_CONN_ARGS 8
int tu_cli_conn(char **argv, char *pwbuf, size_t pwlen, int tcp);

/* Fails the test unless the open sessions listed in `proc_table` (a shared
 * job's process table: dbfork_load_process, dbfork_exec_process, column
 * sessions) are at least `min` and all connected over TCP from 127.0.0.1,
 * as the server's processlist shows them. */
void tu_check_tcp_sessions(MYSQL *m, const char *proc_table, long long min);

/* Freezes one process of a shared job, whichever of pids[0..npids) is
 * first seen holding a chunk: SIGSTOP on it and on its workers at a moment
 * when one of its worker sessions (proc_table's row with its pid, column
 * sessions, the control session excepted) has a transaction that holds row
 * locks and has modified rows (a claim with some of its chunk's work done),
 * as INNODB_TRX shows it 300 ms after the stop. The frozen process then
 * holds a chunk the others cannot take until its sessions are KILLed.
 * Resumes and tries again while the one it stopped holds none; returns the
 * index of the frozen process, or fails the test after timeout_ms. */
int tu_freeze_holding(MYSQL *m, const char *proc_table, const pid_t *pids, int npids,
                      int timeout_ms);

/* kill(sig) on a process and on each of its children (its workers). */
void tu_signal_tree(pid_t pid, int sig);

/* printf-style SQL; fails the test on error. Any result set is discarded. */
void tu_exec(MYSQL *m, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* The first column of the first row as an integer; SQL NULL or no row -> -1. */
long long tu_query_ll(MYSQL *m, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* The first column of the first row, malloc'd (free it); NULL for SQL NULL or
 * no row. */
char *tu_query_str(MYSQL *m, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* SHOW GLOBAL STATUS LIKE 'var' as an integer (-1 if there is no such
 * variable). */
long long tu_status(MYSQL *m, const char *var);

/* The number of sessions whose connect attribute program_name equals
 * `program_name`, not counting the caller's own session. Counted from
 * performance_schema.session_connect_attrs (tests/server.sh runs the server
 * with performance_schema=ON). */
long long tu_sessions(MYSQL *m, const char *program_name);

/* Like tu_sessions(), but counts only sessions whose worker process (the
 * dbfork_pid connect attribute) is still alive and not a zombie. A worker
 * that quit cleanly may leave its session listed for a moment while the
 * server tears it down; that session is no longer held by the pool. If
 * `listed` is not NULL it gets the count of all of them, live or not, from
 * the same query. */
long long tu_live_sessions(MYSQL *m, const char *program_name, long long *listed);

/* Polls tu_sessions() every 20 ms until it equals `want` or `timeout_ms`
 * passes; returns the last count (check it). */
long long tu_wait_sessions(MYSQL *m, const char *program_name, long long want, int timeout_ms);

/* Polls tu_status(m, var) until it equals `want` or timeout_ms passes;
 * returns the last value. */
long long tu_wait_status(MYSQL *m, const char *var, long long want, int timeout_ms);

/* Polls information_schema.PROCESSLIST until session `id` is gone or
 * timeout_ms passes; returns 1 if it is gone. */
int tu_wait_session_gone(MYSQL *m, unsigned long id, int timeout_ms);

/* dbfork_options_init(o), then unix_socket/user/password/database from the
 * environment, no_defaults = 1 (no option file can change what a test sees),
 * and program_name = tu_unique_name() so tu_sessions(m, o->program_name)
 * counts only this test's workers. */
void tu_options(dbfork_options *o);
/* The start method the suite runs with: DBFORK_START_FORKSERVER under
 * DBFORK_TEST_START_METHOD=forkserver (the "@forkserver" ctest runs; the
 * fork server is then started by the first tu_options()),
 * DBFORK_START_SPAWN under =spawn ("@spawn"), else DBFORK_START_FORK. */
int tu_start_method(void);
/* Skips the test (exit 77, with why) unless workers are fork()ed from the
 * test process itself: for tests whose tasks use what only fork() passes on
 * (pipes and memory the test set up, its atfork handlers). A forkserver
 * worker is forked from the helper and inherits no descriptor of the test;
 * a spawned one inherits nothing at all. */
#define TU_NEEDS_FORK_INHERITANCE(why)                                      \
  do {                                                                      \
    if (tu_start_method() != DBFORK_START_FORK)                             \
      SKIP("start_method %s: %s", getenv("DBFORK_TEST_START_METHOD"), why); \
  } while (0)
/* Skips the test under spawn only: its tasks' or initializers' arguments
 * point to data the test writes at run time (a table name in a static
 * buffer, a heap object), which a forked or forkserver worker shares but a
 * spawned one sees as the program started (docs/policies.md). */
#define TU_NEEDS_PARENT_MEMORY(why)                                                   \
  do {                                                                                \
    if (tu_start_method() == DBFORK_START_SPAWN) SKIP("start_method spawn: %s", why); \
  } while (0)

/* VmRSS of the calling process in KiB, -1 if unknown. */
long tu_rss_kb(void);

/* How many of pids[0..n) exist and are not zombies (pid <= 0 is skipped). */
int tu_pids_alive(const long *pids, int n);

/* The live (not zombie) pids whose parent is ppid, from /proc: a parent's
 * workers. Returns how many (at most max). */
int tu_children(pid_t ppid, long *pids, int max);

/* Forks and execs argv[0] (a program run by tests: the CLI) with stdin
 * /dev/null and stdout/stderr to the files out and err; returns its pid. */
pid_t tu_spawn(char *const *argv, const char *out, const char *err);

/* Waits for pid (polling) and returns its exit code, or 128 + the signal
 * that ended it. After timeout_ms it is SIGKILLed and the test fails,
 * naming what ("dbfork load"). */
int tu_wait_exit(pid_t pid, int timeout_ms, const char *what);

/* A whole file, NUL-terminated (its length in *len when len is set);
 * NULL when it cannot be opened. Fails the test when out of memory. */
char *tu_read_file(const char *path, size_t *len);

/* The first column of the first row as an integer; 0 on any error (a table
 * that does not exist yet) or NULL: for polling what a running CLI does. */
long long tu_try_ll(MYSQL *m, const char *sql);

/* Runs `$DBFORK_TEST_SERVER_SH verb $DBFORK_TEST_SERVER_DIR` (start, stop,
 * restart) and fails the test if it fails. Only for tests registered with
 * RESTARTS_SERVER. */
void tu_server(const char *verb);

/* ---------------------------------------------------------------------------
 * Several submitting threads (dbfork_submit is thread-safe).
 *
 * tu_submitters_start() starts `threads` threads (0: tu_submit_threads())
 * that call fn(i, arg) for i = 0, 1, 2, ..., each i handed to one thread
 * from a shared counter, until fn returns non-zero (that thread ends) or
 * tu_submitters_stop() is called. fn typically calls dbfork_submit(); its
 * completion callbacks run on the loop thread, which the test must keep
 * running meanwhile (dbfork_pool_run, or a blocking pool call).
 * ------------------------------------------------------------------------- */
/* DBFORK_TEST_SUBMIT_THREADS (the ThreadSanitizer leg of CI sets 4), else 2. */
int tu_submit_threads(void);
typedef struct tu_submitters tu_submitters;
tu_submitters *tu_submitters_start(int threads, int (*fn)(size_t i, void *arg), void *arg);
/* 1 once every thread has returned. */
int tu_submitters_done(tu_submitters *s);
/* Asks the threads to stop after their current fn call, joins them and frees
 * s; returns how many indices were handed out. */
size_t tu_submitters_stop(tu_submitters *s);

/* Milliseconds from a monotonic clock. */
long long tu_now_ms(void);

/* Sleeps ms milliseconds. */
void tu_sleep_ms(int ms);

/* tu_exec/tu_query_ll/tu_query_str are also macros, so that a failure names
 * the test's file:line rather than testutil.c's. */
void tu__exec(const char *file, int line, MYSQL *m, const char *fmt, ...) DBFORK_PRINTF(4, 5);
long long tu__query_ll(const char *file, int line, MYSQL *m, const char *fmt, ...)
    DBFORK_PRINTF(4, 5);
char *tu__query_str(const char *file, int line, MYSQL *m, const char *fmt, ...) DBFORK_PRINTF(4, 5);
#define tu_exec(m, ...) tu__exec(__FILE__, __LINE__, m, __VA_ARGS__)
#define tu_query_ll(m, ...) tu__query_ll(__FILE__, __LINE__, m, __VA_ARGS__)
#define tu_query_str(m, ...) tu__query_str(__FILE__, __LINE__, m, __VA_ARGS__)

/* Internals used by the macros. */
void tu__fail(const char *file, int line, const char *fmt, ...) DBFORK_PRINTF(3, 4)
    __attribute__((noreturn));
void tu__skip(const char *file, int line, const char *fmt, ...) DBFORK_PRINTF(3, 4)
    __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif
