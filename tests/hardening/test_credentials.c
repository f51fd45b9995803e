/*
 * test_credentials.c — the password never shows where others can read it,
 * and identifiers from the command line never become SQL.
 *
 * `dbfork demo` runs against the test server with the password given through
 * an option file (--defaults-file), through MYSQL_PWD, and as -pSECRET /
 * --password=SECRET. While it runs, the test reads /proc/PID/cmdline of the
 * CLI and of every worker it forked (any process whose parent is the CLI),
 * many times; afterwards its stdout and stderr (with -v: debug logging). The
 * password must appear in none of them; with -p on the command line the CLI
 * overwrites it in its own argv before it forks, so neither the parent nor a
 * worker shows it.
 *
 * Hostile table names (backticks, semicolons, quotes, comments, control
 * characters, too many dots, too long) are either quoted into a harmless
 * identifier — the table is created under that exact odd name, or the server
 * refuses that one identifier — or refused by the CLI with exit code 64 and a
 * message; a canary table always survives.
 */
#define _GNU_SOURCE /* memmem */
#include "dbfork.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- running the CLI ---- */

typedef struct run {
  int status;         /* exit code, or 128 + signal */
  int samples;        /* /proc reads of the CLI's cmdline that counted */
  int worker_samples; /* ... and of its workers */
  int max_workers;    /* most workers seen at once */
  char *out, *err;    /* its stdout and stderr, NUL-terminated */
  char leak[512];     /* where the secret was seen, "" if nowhere */
} run;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "r");
  size_t cap = 1 << 20, n;
  char *s = malloc(cap + 1);
  CHECK(f != NULL && s != NULL);
  n = fread(s, 1, cap, f);
  s[n] = 0;
  fclose(f);
  if (len) *len = n;
  return s;
}

/* /proc/PID/cmdline with the NULs between arguments turned into spaces;
 * returns its length, 0 if the process is gone. */
static size_t read_cmdline(long pid, char *buf, size_t cap) {
  char path[64];
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
  fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  n = read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) return 0;
  for (ssize_t i = 0; i < n; i++)
    if (!buf[i]) buf[i] = ' ';
  buf[n] = 0;
  return (size_t)n;
}

/* The pids whose parent is `ppid` (the CLI's workers). */
static int children_of(long ppid, long *out, int max) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  CHECK(d != NULL);
  while ((e = readdir(d)) && n < max) {
    char path[64], buf[512], *rp;
    long pid = strtol(e->d_name, &rp, 10), pp;
    FILE *f;
    if (*rp || pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "r"))) continue;
    if (fgets(buf, sizeof buf, f) && (rp = strrchr(buf, ')')) &&
        sscanf(rp + 2, "%*c %ld", &pp) == 1 && pp == ppid)
      out[n++] = pid;
    fclose(f);
  }
  closedir(d);
  return n;
}

/* Runs argv (argv[0] is $DBFORK_CLI) with `env` ("NAME=value" or NULL) added
 * to the environment. While it runs, reads the cmdline of the CLI and its
 * workers every few ms and records where `secret` shows. The CLI's own
 * cmdline counts only from the moment it has forked its workers: before
 * that, it may not have parsed (and wiped) its options yet. */
static void run_cli(char *const argv[], const char *env, const char *secret, run *r) {
  char out[128], err[128];
  long long end = tu_now_ms() + 120000;
  pid_t pid;
  int st;
  memset(r, 0, sizeof *r);
  snprintf(out, sizeof out, "/tmp/dbfork-cred-%d.out", (int)getpid());
  snprintf(err, sizeof err, "/tmp/dbfork-cred-%d.err", (int)getpid());
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0) _exit(126);
    dup2(fo, 1);
    dup2(fe, 2);
    unsetenv("MYSQL_PWD");
    if (env) putenv((char *)env);
    execv(argv[0], argv);
    _exit(127);
  }
  for (;;) {
    long kids[64];
    char buf[8192];
    int n = children_of(pid, kids, 64);
    if (n > r->max_workers) r->max_workers = n;
    for (int i = 0; i < n; i++)
      if (read_cmdline(kids[i], buf, sizeof buf)) {
        r->worker_samples++;
        if (strstr(buf, secret) && !r->leak[0])
          snprintf(r->leak, sizeof r->leak, "worker %ld cmdline: %.400s", kids[i], buf);
      }
    if (n > 0 && read_cmdline(pid, buf, sizeof buf)) {
      r->samples++;
      if (strstr(buf, secret) && !r->leak[0])
        snprintf(r->leak, sizeof r->leak, "CLI %ld cmdline: %.400s", (long)pid, buf);
    }
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    if (tu_now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      FAIL("%s did not finish in 120 s", argv[0]);
    }
    tu_sleep_ms(2);
  }
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r->out = slurp(out, NULL);
  r->err = slurp(err, NULL);
  unlink(out);
  unlink(err);
  fprintf(stderr, "exit %d; %d CLI and %d worker cmdline reads (up to %d workers)\n", r->status,
          r->samples, r->worker_samples, r->max_workers);
  fprintf(stderr, "--- stdout\n%s--- stderr\n%s---\n", r->out, r->err);
}

static void run_free(run *r) {
  free(r->out);
  free(r->err);
}

/* The run leaked nothing: not in any cmdline, not in stdout/stderr. */
static void check_no_leak(const run *r, const char *secret) {
  if (r->leak[0]) FAIL("the password is visible: %s", r->leak);
  if (strstr(r->out, secret)) FAIL("the password is in stdout");
  if (strstr(r->err, secret)) FAIL("the password is in stderr");
}

/* A demo run that forks workers and takes a little while, so the sampling
 * sees them: 60k rows in 300 transactions. */
static void check_demo_ok(const run *r) {
  CHECK_EQ_INT(r->status, 0);
  CHECK(strstr(r->out, "rows written   60,000") != NULL);
  CHECK(r->max_workers >= 1);
  CHECK(r->worker_samples > 0);
  CHECK(r->samples > 0);
}

static const char *cli(void) {
  const char *c = getenv("DBFORK_CLI");
  if (!c) SKIP("DBFORK_CLI not set");
  return c;
}

static const char *secret(void) {
  const char *pw = getenv("DBFORK_TEST_PASSWORD");
  CHECK(pw != NULL && strlen(pw) >= 6);
  return pw;
}

static char *arg(const char *fmt, const char *v) {
  char *s;
  CHECK(asprintf(&s, fmt, v) > 0);
  return s;
}

/* ---- the password ---- */

TEST(password_from_option_file_not_in_cmdline) {
  char path[128];
  FILE *f;
  run r;
  snprintf(path, sizeof path, "/tmp/dbfork-cred-%d.cnf", (int)getpid());
  f = fopen(path, "w");
  CHECK(f != NULL);
  fchmod(fileno(f), 0600);
  fprintf(f, "[client]\nuser=%s\npassword=%s\nsocket=%s\n[dbfork]\ndatabase=%s\n",
          getenv("DBFORK_TEST_USER"), secret(), getenv("DBFORK_TEST_SOCKET"),
          getenv("DBFORK_TEST_DB"));
  fclose(f);
  {
    char *argv[] = {(char *)cli(),
                    "demo",
                    arg("--defaults-file=%s", path),
                    arg("--table=%s", tu_unique_name()),
                    "--rows=60000",
                    "--batch=200",
                    "--workers=3",
                    "-v",
                    NULL};
    run_cli(argv, NULL, secret(), &r);
    free(argv[2]);
    free(argv[3]);
  }
  unlink(path);
  check_demo_ok(&r);
  check_no_leak(&r, secret());
  run_free(&r);
}

TEST(password_from_environment_not_in_cmdline) {
  char *env = arg("MYSQL_PWD=%s", secret());
  run r;
  char *argv[] = {(char *)cli(),
                  "demo",
                  "--no-defaults",
                  arg("--socket=%s", getenv("DBFORK_TEST_SOCKET")),
                  arg("--user=%s", getenv("DBFORK_TEST_USER")),
                  arg("--database=%s", getenv("DBFORK_TEST_DB")),
                  arg("--table=%s", tu_unique_name()),
                  "--rows=60000",
                  "--batch=200",
                  "--workers=3",
                  "-v",
                  NULL};
  run_cli(argv, env, secret(), &r);
  for (int i = 3; i <= 6; i++) free(argv[i]);
  check_demo_ok(&r);
  check_no_leak(&r, secret());
  run_free(&r);
  free(env);
}

/* -pSECRET and --password=SECRET: visible in argv for an instant (which is
 * why --help tells users to prefer the other two ways), then overwritten by
 * the CLI before it connects or forks. */
static void password_on_command_line(const char *fmt) {
  run r;
  char *argv[] = {(char *)cli(),
                  "demo",
                  "--no-defaults",
                  arg("--socket=%s", getenv("DBFORK_TEST_SOCKET")),
                  arg("--user=%s", getenv("DBFORK_TEST_USER")),
                  arg(fmt, secret()),
                  arg("--database=%s", getenv("DBFORK_TEST_DB")),
                  arg("--table=%s", tu_unique_name()),
                  "--rows=60000",
                  "--batch=200",
                  "--workers=3",
                  NULL};
  run_cli(argv, NULL, secret(), &r);
  for (int i = 3; i <= 7; i++) free(argv[i]);
  check_demo_ok(&r);
  check_no_leak(&r, secret());
  run_free(&r);
}

TEST(password_short_option_overwritten_in_argv) { password_on_command_line("-p%s"); }

TEST(password_long_option_overwritten_in_argv) { password_on_command_line("--password=%s"); }

TEST(wrong_password_error_does_not_echo_it) {
  const char *bad = "Wr0ngSecret-dbfork-42";
  run r;
  char *env = arg("MYSQL_PWD=%s", bad);
  char *argv[] = {(char *)cli(),
                  "demo",
                  "--no-defaults",
                  arg("--socket=%s", getenv("DBFORK_TEST_SOCKET")),
                  arg("--user=%s", getenv("DBFORK_TEST_USER")),
                  arg("--table=%s.t", getenv("DBFORK_TEST_DB")),
                  "-v",
                  NULL};
  run_cli(argv, env, bad, &r);
  for (int i = 3; i <= 5; i++) free(argv[i]);
  CHECK_EQ_INT(r.status, 2);
  CHECK(strstr(r.err, "Access denied") != NULL);
  check_no_leak(&r, bad);
  run_free(&r);
  free(env);
}

/* ---- hostile identifiers ---- */

static run demo_table(const char *table) {
  run r;
  char *argv[] = {(char *)cli(),
                  "demo",
                  "--no-defaults",
                  arg("--socket=%s", getenv("DBFORK_TEST_SOCKET")),
                  arg("--user=%s", getenv("DBFORK_TEST_USER")),
                  arg("--database=%s", getenv("DBFORK_TEST_DB")),
                  arg("--table=%s", table),
                  "--rows=500",
                  "--batch=100",
                  NULL};
  char *env = arg("MYSQL_PWD=%s", secret());
  run_cli(argv, env, "\x01never\x01", &r);
  for (int i = 3; i <= 6; i++) free(argv[i]);
  free(env);
  return r;
}

/* Quotes a name for the test's own SQL (backticks doubled). */
static void q(const char *name, char *out, size_t cap) {
  size_t o = 0;
  out[o++] = '`';
  for (const char *p = name; *p && o + 3 < cap; p++) {
    if (*p == '`') out[o++] = '`';
    out[o++] = *p;
  }
  out[o++] = '`';
  out[o] = 0;
}

TEST(hostile_table_names_are_quoted_and_the_canary_survives) {
  MYSQL *m = tu_connect();
  char canary[64], hostile[6][256];
  int i;
  /* Short, so that every hostile name below stays within 64 characters. */
  snprintf(canary, sizeof canary, "canary_%d", (int)getpid());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", canary);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY)", canary);
  tu_exec(m, "INSERT INTO `%s` VALUES (1), (2), (3)", canary);
  /* Each is a valid name once quoted; none may run as SQL. */
  snprintf(hostile[0], sizeof hostile[0], "x`; DROP TABLE %s; --", canary);
  snprintf(hostile[1], sizeof hostile[1], "x` (id INT); DROP TABLE `%s`; -- ", canary);
  snprintf(hostile[2], sizeof hostile[2], "t'; DROP TABLE %s; #", canary);
  snprintf(hostile[3], sizeof hostile[3], "t\"; DROP TABLE %s /*", canary);
  snprintf(hostile[4], sizeof hostile[4], "``%s``", canary);
  snprintf(hostile[5], sizeof hostile[5], "t`;SELECT SLEEP(5);`");
  for (i = 0; i < 6; i++) {
    char qn[600];
    run r;
    q(hostile[i], qn, sizeof qn);
    {
      char sql[700];
      snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", qn);
      mysql_query(m, sql); /* a name the server refuses (too long) is fine here */
    }
    fprintf(stderr, "== --table='%s'\n", hostile[i]);
    r = demo_table(hostile[i]);
    /* Refused by the CLI (64); or quoted, and then either the table exists
     * under exactly that odd name and holds the demo's rows, or the server
     * refused it as one identifier (error 1103: e.g. a trailing space),
     * which the CLI reports without running anything else. */
    if (r.status == 64) {
      CHECK(strstr(r.err, "--table") != NULL);
    } else if (r.status == 2 && strstr(r.err, "error 1103 (42000): Incorrect table name")) {
      CHECK(strstr(r.out, "pool started") == NULL); /* nothing else ran */
    } else {
      CHECK_EQ_INT(r.status, 0);
      CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM %s", qn), 500);
      tu_exec(m, "DROP TABLE %s", qn);
    }
    CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", canary), 3);
    run_free(&r);
  }
  tu_exec(m, "DROP TABLE `%s`", canary);
}

TEST(malformed_table_names_are_refused_with_a_message) {
  const char *bad[] = {
      "",                                                                  /* empty */
      "a.b.c",                                                             /* more than one dot */
      ".t",                                                                /* empty database part */
      "db.",                                                               /* empty table part */
      "t\nDROP TABLE x",                                                   /* control character */
      "t\tx",                                                              /* control character */
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* 65 chars */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    run r = demo_table(bad[i]);
    CHECK_EQ_INT(r.status, 64);
    CHECK(strstr(r.err, "dbfork demo: option --table: ") != NULL);
    CHECK_EQ_STR(r.out, ""); /* refused before it even connected */
    run_free(&r);
  }
}
