/*
 * testutil.c — the test runner (fork per test, timeout, leak check) and the
 * database helpers declared in testutil.h.
 */
#define _GNU_SOURCE /* vasprintf, strsignal */
#include "testutil.h"

#include <pthread.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * Failure reporting.
 * ------------------------------------------------------------------------- */
static const char *current_test = "";
static char unique_name[64];

static void vreport(const char *what, const char *file, int line, const char *fmt, va_list ap) {
  fflush(stdout);
  fprintf(stderr, "%s:%d: %s: ", file, line, what);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "%s%s%s\n", *current_test ? " [in " : "", current_test, *current_test ? "]" : "");
  fflush(stderr);
}

void tu__fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport("FAILED", file, line, fmt, ap);
  va_end(ap);
  exit(1);
}

void tu__skip(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport("SKIPPED", file, line, fmt, ap);
  va_end(ap);
  exit(77);
}

long long tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---------------------------------------------------------------------------
 * Registry and runner.
 * ------------------------------------------------------------------------- */
typedef struct {
  const char *name;
  tu_test_fn fn;
  const char *file;
  int line;
} tu_entry;

static tu_entry *tests;
static size_t ntests, captests;

void tu__register(const char *name, tu_test_fn fn, const char *file, int line) {
  if (ntests == captests) {
    captests = captests ? captests * 2 : 32;
    tests = realloc(tests, captests * sizeof *tests);
    if (!tests) abort();
  }
  tests[ntests++] = (tu_entry){name, fn, file, line};
}

static int entry_cmp(const void *a, const void *b) {
  const tu_entry *x = a, *y = b;
  int c = strcmp(x->file, y->file);
  return c ? c : x->line - y->line;
}

const char *tu_test_name(void) { return current_test; }
const char *tu_unique_name(void) { return unique_name; }

static void set_unique_name(const char *prog, const char *test) {
  char buf[512];
  size_t i, n = 0;
  const char *base = strrchr(prog, '/');
  const char *method = getenv("DBFORK_TEST_START_METHOD");
  base = base ? base + 1 : prog;
  /* The NAME.fn@method run of a test may run beside NAME.fn (ctest -j):
   * its tables and program_name must not be the same. */
  if (method && *method && strcmp(method, "fork") != 0)
    snprintf(buf, sizeof buf, "%s_%s_%s", base, test, method);
  else
    snprintf(buf, sizeof buf, "%s_%s", base, test);
  for (i = 0; buf[i] && n < sizeof unique_name - 1; i++)
    unique_name[n++] = isalnum((unsigned char)buf[i]) ? buf[i] : '_';
  unique_name[n] = 0;
  if (strlen(buf) > 48) {
    /* FNV-1a of the full name keeps shortened names distinct. */
    uint32_t h = 2166136261u;
    for (i = 0; buf[i]; i++) h = (h ^ (unsigned char)buf[i]) * 16777619u;
    snprintf(unique_name + 39, sizeof unique_name - 39, "_%08x", (unsigned)h);
  }
}

/* Pids in process group `pgid`, from /proc. Returns how many were written. */
static int pids_in_group(pid_t pgid, pid_t *out, int cap) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  if (!d) return 0;
  while ((e = readdir(d)) != NULL && n < cap) {
    char path[300], buf[512], *p;
    FILE *f;
    int pgrp = 0;
    char state = 0;
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    if (!(f = fopen(path, "r"))) continue;
    if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) != NULL &&
        sscanf(p + 1, " %c %*d %d", &state, &pgrp) == 2 && pgrp == pgid && state != 'Z')
      out[n++] = (pid_t)atoi(e->d_name);
    fclose(f);
  }
  closedir(d);
  return n;
}

static void reap_orphans(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static double timeout_s(void) {
  const char *s = getenv("DBFORK_TEST_TIMEOUT");
  double t = s ? atof(s) : 0;
  return t > 0 ? t : 120;
}

/* Runs one test in a child; returns 0 ok, 77 skipped, 1 failed. */
static int run_one(const char *prog, const tu_entry *t) {
  long long t0 = tu_now_ms(), limit = (long long)(timeout_s() * 1000);
  int status = 0, timed_out = 0, leaked = 0;
  pid_t pid, w, runner = getpid();
  char why[128] = "";

  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    setpgid(0, 0);
    /* Own process group (for the leak check), so a terminal's ^C or ctest's
     * kill reaches only the runner: die with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != runner) _exit(1);
    /* Line-buffered: a process the test forks must not inherit and flush
     * half a buffer of the test's output a second time. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    current_test = t->name;
    set_unique_name(prog, t->name);
    t->fn();
    fflush(NULL);
    exit(0);
  }
  setpgid(pid, pid); /* also in the parent: no race with the child's own call */
  for (;;) {
    w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      perror("waitpid");
      return 1;
    }
    if (tu_now_ms() - t0 > limit) {
      timed_out = 1;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    tu_sleep_ms(5);
  }

  /* Whatever is left in the test's process group was leaked by it. Give
   * workers whose parent just exited a moment to finish their finalizers. */
  if (!timed_out) {
    long long deadline = tu_now_ms() + 5000;
    pid_t left[64];
    int n;
    for (;;) {
      reap_orphans();
      n = pids_in_group(pid, left, 64);
      if (n == 0 || tu_now_ms() > deadline) break;
      tu_sleep_ms(20);
    }
    if (n > 0) {
      int i;
      leaked = 1;
      fprintf(stderr, "%s: %d process(es) still running 5 s after the test ended:", t->name, n);
      for (i = 0; i < n; i++) {
        char path[64], comm[64] = "?";
        FILE *f;
        snprintf(path, sizeof path, "/proc/%d/comm", (int)left[i]);
        if ((f = fopen(path, "r")) != NULL) {
          if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
          fclose(f);
        }
        fprintf(stderr, " %d (%s)", (int)left[i], comm);
      }
      fprintf(stderr, "; killing them\n");
    }
  }
  kill(-pid, SIGKILL);
  {
    long long deadline = tu_now_ms() + 2000;
    pid_t left[1];
    do {
      reap_orphans();
    } while (pids_in_group(pid, left, 1) > 0 && tu_now_ms() < deadline && (tu_sleep_ms(5), 1));
  }

  if (timed_out)
    snprintf(why, sizeof why, "timeout after %.0f s", timeout_s());
  else if (WIFSIGNALED(status))
    snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else if (WIFEXITED(status) && WEXITSTATUS(status) == 77 && !leaked) {
    printf("skip %s\n", t->name);
    fflush(stdout);
    return 77;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
  else if (leaked)
    snprintf(why, sizeof why, "leaked processes");

  if (*why) {
    printf("FAIL %s (%s, %.2f s)\n", t->name, why, (tu_now_ms() - t0) / 1000.0);
    fflush(stdout);
    return 1;
  }
  printf("ok %s (%.2f s)\n", t->name, (tu_now_ms() - t0) / 1000.0);
  fflush(stdout);
  return 0;
}

int tu_main(int argc, char **argv) {
  size_t i;
  int failed = 0, ran = 0, skipped = 0, a;

  if (ntests > 1) qsort(tests, ntests, sizeof *tests, entry_cmp);
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (i = 0; i < ntests; i++) printf("%s\n", tests[i].name);
    return 0;
  }
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s [--list | NAME...]\n", argv[0]);
    return 0;
  }
  /* Orphans of a test (workers of a parent it killed) are re-parented to us,
   * not to init, so we can reap them and see them in the leak check. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  for (a = 1; a < argc; a++) {
    for (i = 0; i < ntests; i++)
      if (strcmp(tests[i].name, argv[a]) == 0) break;
    if (i == ntests) {
      fprintf(stderr, "%s: no test named '%s' (see --list)\n", argv[0], argv[a]);
      return 2;
    }
  }
  for (i = 0; i < ntests; i++) {
    int rc, want = argc == 1;
    for (a = 1; a < argc && !want; a++) want = strcmp(tests[i].name, argv[a]) == 0;
    if (!want) continue;
    rc = run_one(argv[0], &tests[i]);
    ran++;
    if (rc == 77)
      skipped++;
    else if (rc != 0)
      failed++;
  }
  if (ran > 1)
    printf("%d passed, %d failed, %d skipped\n", ran - failed - skipped, failed, skipped);
  if (failed) return 1;
  return ran > 0 && skipped == ran ? 77 : 0;
}

/* ---------------------------------------------------------------------------
 * Connections. Every tu_connect() handle is remembered with its opener's pid
 * and closed cleanly at exit by that process only: a forked child must never
 * close its parent's handle (COM_QUIT would end the parent's session).
 * mysql_close is wrapped at link time (-Wl,--wrap=mysql_close, set on the
 * dbfork_testutil target) so a handle the test closed itself is forgotten.
 * ------------------------------------------------------------------------- */
typedef struct {
  MYSQL *m;
  pid_t owner;
} tu_conn;

static tu_conn conns[256];
static int nconns, atexit_set;

void __real_mysql_close(MYSQL *m);
void __wrap_mysql_close(MYSQL *m);

static void forget(MYSQL *m) {
  int i;
  for (i = 0; i < nconns; i++)
    if (conns[i].m == m) {
      conns[i] = conns[--nconns];
      return;
    }
}

void __wrap_mysql_close(MYSQL *m) {
  if (m) forget(m);
  __real_mysql_close(m);
}

static void close_all(void) {
  pid_t me = getpid();
  while (nconns > 0) {
    tu_conn c = conns[--nconns];
    if (c.owner == me) __real_mysql_close(c.m);
  }
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

const char *tu_tcp_port(void) {
  static char port[16];
  const char *dir = getenv("DBFORK_TEST_SERVER_DIR");
  char path[4096];
  FILE *f;
  if (port[0]) return port;
  if (getenv("DBFORK_TEST_PORT") && *getenv("DBFORK_TEST_PORT")) {
    snprintf(port, sizeof port, "%s", getenv("DBFORK_TEST_PORT"));
    return port;
  }
  if (!dir || !*dir) FAIL("tu_tcp_port: DBFORK_TEST_SERVER_DIR is not set (run through ctest)");
  snprintf(path, sizeof path, "%s/port", dir);
  if (!(f = fopen(path, "r")))
    FAIL(
        "tu_tcp_port: %s: %s: the test server listens on no TCP port (start it with "
        "DBFORK_SERVER_PORT=auto tests/server.sh start %s, or give an external server's "
        "port with -DDBFORK_TEST_EXTERNAL_PORT=N)",
        path, strerror(errno), dir);
  if (!fgets(port, sizeof port, f) || atoi(port) <= 0) {
    fclose(f);
    FAIL("tu_tcp_port: %s holds no port number", path);
  }
  fclose(f);
  port[strcspn(port, "\r\n")] = 0;
  return port;
}

int tu_cli_conn(char **argv, char *pwbuf, size_t pwlen, int tcp) {
  int n = 0;
  argv[n++] = (char *)"--no-defaults";
  if (tcp) {
    argv[n++] = (char *)"-h";
    argv[n++] = (char *)"127.0.0.1";
    argv[n++] = (char *)"-P";
    argv[n++] = (char *)tu_tcp_port();
    argv[n++] = (char *)"--protocol=TCP";
  } else {
    argv[n++] = (char *)"-S";
    argv[n++] = (char *)env_or("DBFORK_TEST_SOCKET", "");
  }
  argv[n++] = (char *)"-u";
  argv[n++] = (char *)env_or("DBFORK_TEST_USER", "dbfork");
  snprintf(pwbuf, pwlen, "--password=%s", env_or("DBFORK_TEST_PASSWORD", ""));
  argv[n++] = pwbuf;
  return n;
}

void tu_check_tcp_sessions(MYSQL *m, const char *proc_table, long long min) {
  long long all = tu_query_ll(m,
                              "SELECT COUNT(*) FROM information_schema.PROCESSLIST p JOIN %s t ON "
                              "FIND_IN_SET(p.ID, t.sessions) WHERE t.ended_at IS NULL",
                              proc_table);
  long long other = tu_query_ll(m,
                                "SELECT COUNT(*) FROM information_schema.PROCESSLIST p JOIN %s t "
                                "ON FIND_IN_SET(p.ID, t.sessions) WHERE t.ended_at IS NULL AND "
                                "p.HOST NOT LIKE '127.0.0.1:%%'",
                                proc_table);
  if (all < min || other != 0)
    FAIL(
        "the sessions of %s: %lld open (want at least %lld), %lld of them not over TCP from "
        "127.0.0.1",
        proc_table, all, min, other);
}

/* Transactions of the process's workers that hold a claim and have done
 * some of its chunk's work: row locks (the plan row) and rows modified.
 * Not the control session's (the first in the list), whose heartbeat or
 * job-row updates lock rows for a moment without holding up any chunk; and
 * not a claim alone, which may be of a chunk another process has already
 * committed (the claim then finds it done and ends), holding up nothing. */
static long long locks_of(MYSQL *m, const char *proc_table, pid_t pid) {
  return tu_query_ll(m,
                     "SELECT COUNT(*) FROM information_schema.INNODB_TRX x JOIN %s t ON "
                     "FIND_IN_SET(x.trx_mysql_thread_id, t.sessions) WHERE t.pid = %ld AND "
                     "t.ended_at IS NULL AND x.trx_rows_locked > 0 AND x.trx_rows_modified > 0 "
                     "AND x.trx_mysql_thread_id <> SUBSTRING_INDEX(t.sessions, ',', 1)",
                     proc_table, (long)pid);
}

/* SIGSTOP or SIGCONT to a process and to its children (its workers). */
void tu_signal_tree(pid_t pid, int sig) {
  long kids[64];
  int i, n = tu_children(pid, kids, 64);
  kill(pid, sig);
  for (i = 0; i < n; i++) kill((pid_t)kids[i], sig);
}

int tu_freeze_holding(MYSQL *m, const char *proc_table, const pid_t *pids, int npids,
                      int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  int tries = 0, i;
  while (tu_now_ms() < deadline) {
    for (i = 0; i < npids && locks_of(m, proc_table, pids[i]) <= 0; i++) {
    }
    if (i == npids) {
      /* InnoDB refreshes what INNODB_TRX shows only when its last read is
       * over 100 ms old: polled faster, it shows the same stale picture
       * for ever (transactions of sessions long gone). */
      tu_sleep_ms(150);
      continue;
    }
    tu_signal_tree(pids[i], SIGSTOP);
    tries++;
    tu_sleep_ms(300); /* a COMMIT sent just before the stop has ended by now */
    if (locks_of(m, proc_table, pids[i]) > 0) return i;
    tu_signal_tree(pids[i], SIGCONT);
  }
  {
    char *procs =
        tu_query_str(m,
                     "SELECT GROUP_CONCAT(CONCAT(pid, ':', sessions, ':', chunks_done, ':', "
                     "ended_at IS NULL) SEPARATOR ' ') FROM %s",
                     proc_table);
    char *trx =
        tu_query_str(m,
                     "SELECT GROUP_CONCAT(CONCAT(trx_mysql_thread_id, ':', trx_rows_locked, ':', "
                     "trx_rows_modified, ':', "
                     "trx_state, ':', trx_started, ':', IFNULL(p.COMMAND, 'gone'), ':', "
                     "IFNULL(p.HOST, '-'), ':', IFNULL(p.STATE, '-')) SEPARATOR ' ') FROM "
                     "information_schema.INNODB_TRX LEFT JOIN information_schema.PROCESSLIST p "
                     "ON p.ID = trx_mysql_thread_id");
    FAIL(
        "tu_freeze_holding: no process held a row lock when frozen (%d tries in %d ms; "
        "processes pid:sessions:chunks:running %s; transactions "
        "id:rows_locked:rows_modified:state:started:"
        "command:host:state %s)",
        tries, timeout_ms, procs ? procs : "none", trx ? trx : "none");
  }
  return -1;
}

MYSQL *tu_connect(void) {
  const char *sock = getenv("DBFORK_TEST_SOCKET");
  const char *user = env_or("DBFORK_TEST_USER", "dbfork");
  const char *pw = env_or("DBFORK_TEST_PASSWORD", "dbfork-test-pw");
  const char *db = env_or("DBFORK_TEST_DB", "dbfork_test");
  unsigned int timeout = 10;
  MYSQL *m;

  if (!sock || !*sock) {
    fprintf(stderr,
            "tu_connect: DBFORK_TEST_SOCKET is not set. Run the test through ctest, or start a "
            "server with tests/server.sh start DIR and export DBFORK_TEST_SOCKET=DIR/mysql.sock\n");
    exit(1);
  }
  if (!(m = mysql_init(NULL))) FAIL("mysql_init: out of memory");
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &(unsigned int){1});
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "dbfork-testutil");
  if (!mysql_real_connect(m, NULL, user, pw, db, 0, sock, 0)) {
    fprintf(stderr,
            "tu_connect: cannot connect to the test server at %s as %s (db %s): %s\n"
            "  Is it running? ctest starts it via the server.start fixture; by hand: "
            "tests/server.sh start DIR\n",
            sock, user, db, mysql_error(m));
    __real_mysql_close(m);
    exit(1);
  }
  if (nconns == (int)(sizeof conns / sizeof conns[0])) FAIL("tu_connect: too many connections");
  conns[nconns++] = (tu_conn){m, getpid()};
  if (!atexit_set) {
    atexit(close_all);
    atexit_set = 1;
  }
  return m;
}

static char *vformat(const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) FAIL("out of memory");
  return s;
}

static void sql_fail(const char *file, int line, MYSQL *m, const char *sql) {
  tu__fail(file, line, "SQL failed: %s\n  error %u (%s): %s", sql, mysql_errno(m),
           mysql_sqlstate(m), mysql_error(m));
}

static void run_sql(const char *file, int line, MYSQL *m, const char *sql) {
  MYSQL_RES *r;
  if (mysql_query(m, sql) != 0) sql_fail(file, line, m, sql);
  /* Drain every result, including those of multi-statements. */
  for (;;) {
    if ((r = mysql_store_result(m)) != NULL)
      mysql_free_result(r);
    else if (mysql_field_count(m) != 0)
      sql_fail(file, line, m, sql);
    if (mysql_next_result(m) != 0) break;
  }
  if (mysql_errno(m)) sql_fail(file, line, m, sql);
}

/* Runs sql and returns a malloc'd copy of row 0 column 0; *isnull set when
 * NULL or no row. */
static char *first_cell(const char *file, int line, MYSQL *m, const char *sql, int *isnull) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  char *out = NULL;
  if (mysql_query(m, sql) != 0) sql_fail(file, line, m, sql);
  if (!(r = mysql_store_result(m)))
    tu__fail(file, line, "SQL returned no result set: %s\n  error %u: %s", sql, mysql_errno(m),
             mysql_error(m));
  row = mysql_fetch_row(r);
  *isnull = !row || !row[0];
  if (!*isnull) {
    unsigned long *lens = mysql_fetch_lengths(r);
    out = malloc(lens[0] + 1);
    if (!out) FAIL("out of memory");
    memcpy(out, row[0], lens[0]);
    out[lens[0]] = 0;
  }
  mysql_free_result(r);
  while (mysql_next_result(m) == 0) {
    if ((r = mysql_store_result(m)) != NULL) mysql_free_result(r);
  }
  return out;
}

static long long to_ll(const char *file, int line, const char *sql, const char *s) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || (*end && *end != '.'))
    tu__fail(file, line, "SQL result is not an integer: %s\n  got \"%s\"", sql, s);
  return v;
}

void tu__exec(const char *file, int line, MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  run_sql(file, line, m, sql);
  free(sql);
}

long long tu__query_ll(const char *file, int line, MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql, *s;
  int isnull;
  long long v = -1;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  s = first_cell(file, line, m, sql, &isnull);
  if (!isnull) v = to_ll(file, line, sql, s);
  free(s);
  free(sql);
  return v;
}

char *tu__query_str(const char *file, int line, MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql, *s;
  int isnull;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  s = first_cell(file, line, m, sql, &isnull);
  free(sql);
  return s;
}

/* The plain functions, for callers that take their address. */
#undef tu_exec
#undef tu_query_ll
#undef tu_query_str
void tu_exec(MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  run_sql(__FILE__, __LINE__, m, sql);
  free(sql);
}

long long tu_query_ll(MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql;
  long long v;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  v = tu__query_ll(__FILE__, __LINE__, m, "%s", sql);
  free(sql);
  return v;
}

char *tu_query_str(MYSQL *m, const char *fmt, ...) {
  va_list ap;
  char *sql, *s;
  va_start(ap, fmt);
  sql = vformat(fmt, ap);
  va_end(ap);
  s = tu__query_str(__FILE__, __LINE__, m, "%s", sql);
  free(sql);
  return s;
}

long long tu_status(MYSQL *m, const char *var) {
  char sql[256], *s;
  int isnull;
  long long v = -1;
  MYSQL_RES *r;
  MYSQL_ROW row;
  snprintf(sql, sizeof sql, "SHOW GLOBAL STATUS LIKE '%s'", var);
  if (mysql_query(m, sql) != 0 || !(r = mysql_store_result(m)))
    FAIL("SQL failed: %s\n  error %u: %s", sql, mysql_errno(m), mysql_error(m));
  row = mysql_fetch_row(r);
  isnull = !row || !row[1];
  s = isnull ? NULL : strdup(row[1]);
  mysql_free_result(r);
  if (s) v = to_ll(__FILE__, __LINE__, sql, s);
  free(s);
  return v;
}

long long tu_sessions(MYSQL *m, const char *program_name) {
  char esc[512];
  if (strlen(program_name) > 200) FAIL("tu_sessions: program_name too long");
  mysql_real_escape_string(m, esc, program_name, (unsigned long)strlen(program_name));
  return tu_query_ll(m,
                     "SELECT COUNT(*) FROM performance_schema.session_connect_attrs "
                     "WHERE ATTR_NAME = 'program_name' AND ATTR_VALUE = '%s' "
                     "AND PROCESSLIST_ID <> CONNECTION_ID()",
                     esc);
}

long long tu_live_sessions(MYSQL *m, const char *program_name, long long *listed) {
  char esc[512], *list, *p, *end;
  long pids[256];
  int n = 0;
  if (strlen(program_name) > 200) FAIL("tu_live_sessions: program_name too long");
  mysql_real_escape_string(m, esc, program_name, (unsigned long)strlen(program_name));
  list = tu_query_str(m,
                      "SELECT GROUP_CONCAT(p.ATTR_VALUE) "
                      "FROM performance_schema.session_connect_attrs n "
                      "JOIN performance_schema.session_connect_attrs p "
                      "ON p.PROCESSLIST_ID = n.PROCESSLIST_ID AND p.ATTR_NAME = 'dbfork_pid' "
                      "WHERE n.ATTR_NAME = 'program_name' AND n.ATTR_VALUE = '%s' "
                      "AND n.PROCESSLIST_ID <> CONNECTION_ID()",
                      esc);
  for (p = list; p && *p; p = *end ? end + 1 : end) {
    if (n == (int)(sizeof pids / sizeof *pids)) FAIL("tu_live_sessions: too many sessions");
    pids[n++] = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',')) FAIL("tu_live_sessions: bad dbfork_pid list '%s'", list);
  }
  free(list);
  if (listed) *listed = n;
  return tu_pids_alive(pids, n);
}

long long tu_wait_sessions(MYSQL *m, const char *program_name, long long want, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms, n;
  while ((n = tu_sessions(m, program_name)) != want && tu_now_ms() < deadline) tu_sleep_ms(20);
  return n;
}

long long tu_wait_status(MYSQL *m, const char *var, long long want, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms, n;
  while ((n = tu_status(m, var)) != want && tu_now_ms() < deadline) tu_sleep_ms(20);
  return n;
}

int tu_wait_session_gone(MYSQL *m, unsigned long id, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  for (;;) {
    long long n =
        tu__query_ll(__FILE__, __LINE__, m,
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu", id);
    if (n == 0) return 1;
    if (tu_now_ms() >= deadline) return 0;
    tu_sleep_ms(10);
  }
}

/* DBFORK_TEST_START_METHOD=fork|forkserver|spawn runs a test with that
 * start method (the suites' parameterised runs, tests/CMakeLists.txt). The
 * fork server is started the first time a test fills options: after the
 * test has set up the static data its tasks point to (table names), which
 * the helper's copy of memory must already hold (docs/policies.md). Spawn
 * needs nothing here: testutil's main() calls the hook. */
int tu_start_method(void) {
  const char *m = getenv("DBFORK_TEST_START_METHOD");
  if (!m || !*m || !strcmp(m, "fork")) return DBFORK_START_FORK;
  if (!strcmp(m, "spawn")) return DBFORK_START_SPAWN;
  if (strcmp(m, "forkserver") != 0)
    FAIL("DBFORK_TEST_START_METHOD=%s: not fork, forkserver or spawn", m);
  return DBFORK_START_FORKSERVER;
}

static void start_method_from_env(dbfork_options *o) {
  int rc, m = tu_start_method();
  if (m == DBFORK_START_FORK) return;
  if (m == DBFORK_START_FORKSERVER && (rc = dbfork_forkserver_start()) != 0)
    FAIL("dbfork_forkserver_start: %s", dbfork_strerror(rc));
  o->start_method = m;
}

void tu_options(dbfork_options *o) {
  dbfork_options_init(o);
  o->unix_socket = getenv("DBFORK_TEST_SOCKET");
  o->user = env_or("DBFORK_TEST_USER", "dbfork");
  o->password = env_or("DBFORK_TEST_PASSWORD", "dbfork-test-pw");
  o->database = env_or("DBFORK_TEST_DB", "dbfork_test");
  o->no_defaults = 1;
  o->program_name = *unique_name ? unique_name : "dbfork-test";
  start_method_from_env(o);
}

/* ---------------------------------------------------------------------------
 * Processes.
 * ------------------------------------------------------------------------- */
long tu_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

int tu_pids_alive(const long *pids, int n) {
  int i, alive = 0;
  for (i = 0; i < n; i++) {
    char path[64], buf[512], *p, state = 0;
    FILE *f;
    if (pids[i] <= 0) continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pids[i]);
    if (!(f = fopen(path, "r"))) continue;
    if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) != NULL &&
        sscanf(p + 1, " %c", &state) == 1 && state != 'Z' && state != 'X')
      alive++;
    fclose(f);
  }
  return alive;
}

int tu_children(pid_t ppid, long *pids, int max) {
  /* open() + fdopendir(), not opendir(): glibc's opendir opens its fd
   * through an internal call that ThreadSanitizer does not see, so a reused
   * descriptor number (a worker's socket just closed by the loop thread)
   * looked to it like a race between that socket's read and our closedir. */
  int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *de;
  int n = 0;
  if (!d) {
    if (fd >= 0) close(fd);
    return 0;
  }
  while ((de = readdir(d)) && n < max) {
    char path[64], buf[512], *p, state;
    FILE *fp;
    long pid = strtol(de->d_name, &p, 10), pp;
    if (*p || pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!(fp = fopen(path, "r"))) continue;
    if (!fgets(buf, sizeof buf, fp)) buf[0] = 0;
    fclose(fp);
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %ld", &state, &pp) != 2) continue;
    if (pp == ppid && state != 'Z') pids[n++] = pid;
  }
  closedir(d);
  return n;
}

pid_t tu_spawn(char *const *argv, const char *out, const char *err) {
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) FAIL("fork: %s", strerror(errno));
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fi = open("/dev/null", O_RDONLY);
    if (fo < 0 || fe < 0 || fi < 0) _exit(126);
    dup2(fi, 0);
    dup2(fo, 1);
    dup2(fe, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

int tu_wait_exit(pid_t pid, int timeout_ms, const char *what) {
  int st = 0;
  long long t0 = tu_now_ms();
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) FAIL("waitpid: %s", strerror(errno));
    if (tu_now_ms() - t0 > timeout_ms) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      FAIL("%s did not finish within %d ms", what, timeout_ms);
    }
    tu_sleep_ms(5);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0, r;
  if (!fp) {
    if (len) *len = 0;
    return NULL;
  }
  do {
    if (n + 65536 + 1 > cap) {
      cap = cap ? cap * 2 : 131072;
      buf = realloc(buf, cap);
      if (!buf) FAIL("out of memory");
    }
    r = fread(buf + n, 1, cap - n - 1, fp);
    n += r;
  } while (r > 0);
  fclose(fp);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

long long tu_try_ll(MYSQL *m, const char *sql) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  long long v = 0;
  if (mysql_query(m, sql) || !(res = mysql_store_result(m))) return 0;
  row = mysql_fetch_row(res);
  if (row && row[0]) v = atoll(row[0]);
  mysql_free_result(res);
  return v;
}

void tu_server(const char *verb) {
  const char *sh = getenv("DBFORK_TEST_SERVER_SH"), *dir = getenv("DBFORK_TEST_SERVER_DIR");
  pid_t pid;
  int status;
  const char *ext = getenv("DBFORK_TEST_EXTERNAL");
  if (ext && !strcmp(ext, "1"))
    SKIP("the suite runs against an external server: cannot %s it", verb);
  if (!sh || !dir) FAIL("tu_server: DBFORK_TEST_SERVER_SH / DBFORK_TEST_SERVER_DIR not set");
  fflush(NULL);
  pid = fork();
  if (pid < 0) FAIL("tu_server: fork: %s", strerror(errno));
  if (pid == 0) {
    execlp("bash", "bash", sh, verb, dir, (char *)NULL);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) FAIL("tu_server: waitpid: %s", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    FAIL("tu_server: %s %s %s failed (status %d)", sh, verb, dir, status);
}

/* ---------------------------------------------------------------------------
 * Several submitting threads.
 * ------------------------------------------------------------------------- */
struct tu_submitters {
  int n;
  pthread_t th[64];
  int (*fn)(size_t i, void *arg);
  void *arg;
  size_t next; /* atomic: the next index */
  int stop;    /* atomic */
  int running; /* atomic: threads not yet returned */
};

int tu_submit_threads(void) {
  const char *v = getenv("DBFORK_TEST_SUBMIT_THREADS");
  int n = v ? atoi(v) : 2;
  return n < 1 ? 1 : n > 64 ? 64 : n;
}

static void *submitter_main(void *arg) {
  tu_submitters *s = arg;
  while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
    size_t i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
    if (s->fn(i, s->arg) != 0) break;
  }
  __atomic_fetch_sub(&s->running, 1, __ATOMIC_RELEASE);
  return NULL;
}

tu_submitters *tu_submitters_start(int threads, int (*fn)(size_t i, void *arg), void *arg) {
  tu_submitters *s = calloc(1, sizeof *s);
  int i;
  if (!s) FAIL("out of memory");
  s->n = threads > 0 ? threads : tu_submit_threads();
  if (s->n > 64) s->n = 64;
  s->fn = fn;
  s->arg = arg;
  s->running = s->n;
  for (i = 0; i < s->n; i++)
    if (pthread_create(&s->th[i], NULL, submitter_main, s) != 0) FAIL("pthread_create");
  return s;
}

int tu_submitters_done(tu_submitters *s) {
  return __atomic_load_n(&s->running, __ATOMIC_ACQUIRE) == 0;
}

size_t tu_submitters_stop(tu_submitters *s) {
  size_t taken;
  int i;
  __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
  for (i = 0; i < s->n; i++) pthread_join(s->th[i], NULL);
  taken = __atomic_load_n(&s->next, __ATOMIC_RELAXED);
  free(s);
  return taken;
}
