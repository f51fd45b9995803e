/*
 * exectest.h — helpers for the `dbfork exec` tests (tests/exec/): a fresh
 * database per test, the CLI run in the background or to completion with
 * its output captured, the worker processes of a running command, and
 * polling the server. Every assertion is on what the server stores.
 */
#ifndef DBFORK_EXECTEST_H
#define DBFORK_EXECTEST_H

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct et_env {
  MYSQL *m;
  char db[80];
  char dir[64];
  int tcp; /* the CLI connects over TCP to 127.0.0.1 (tu_cli_conn) */
} et_env;

static char et__dir[64];
static void et__cleanup(void) {
  char cmd[128];
  if (!et__dir[0] || getenv("DBFORK_TEST_KEEP")) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", et__dir);
  if (system(cmd)) {
  }
}

/* A fresh database ex_<unique> (the connection's default) and directory. */
static inline void et_setup(et_env *e) {
  static pid_t owner;
  if (!getenv("DBFORK_CLI")) SKIP("DBFORK_CLI is not set (run through ctest)");
  memset(e, 0, sizeof *e);
  e->m = tu_connect();
  snprintf(e->db, sizeof e->db, "ex_%s", tu_unique_name());
  tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", e->db);
  tu_exec(e->m, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", e->db);
  if (mysql_select_db(e->m, e->db)) FAIL("USE %s: %s", e->db, mysql_error(e->m));
  snprintf(e->dir, sizeof e->dir, "/tmp/dbfork-exec-XXXXXX");
  if (!mkdtemp(e->dir)) FAIL("mkdtemp: %s", strerror(errno));
  snprintf(et__dir, sizeof et__dir, "%s", e->dir);
  if (owner != getpid()) {
    owner = getpid();
    atexit(et__cleanup);
  }
}

static inline void et_teardown(et_env *e) { tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", e->db); }

/* t (id BIGINT PRIMARY KEY, n INT NOT NULL DEFAULT 0) with ids 1..rows. */
static inline void et_counter_table(et_env *e, const char *t, long rows) {
  tu_exec(e->m,
          "CREATE TABLE `%s` (id BIGINT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 0, "
          "pad CHAR(20) NOT NULL DEFAULT 'x') ENGINE=InnoDB",
          t);
  tu_exec(e->m, "INSERT INTO `%s` (id) SELECT seq FROM seq_1_to_%ld", t, rows);
}

typedef struct et_run {
  int rc;
  char *out, *err;
} et_run;

static inline void et_run_free(et_run *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

static inline char *et__read(const char *path) {
  char *s = tu_read_file(path, NULL);
  return s ? s : strdup("");
}

#define ET_MAXARGS 48
typedef struct et_proc {
  pid_t pid;
  int seq;
  char *argv[ET_MAXARGS];
  char pw[256], db[100];
} et_proc;

static int et__seq;

/* Appends `--database=db`, then the va_list's arguments up to NULL, to
 * p->argv[0, n) and starts it in the background. */
static inline void et_spawn(et_proc *p, const et_env *e, int n, va_list ap) {
  const char *a;
  char out[128], err[128];
  snprintf(p->db, sizeof p->db, "--database=%s", e->db);
  p->argv[n++] = p->db;
  while ((a = va_arg(ap, const char *)) != NULL) {
    if (n >= ET_MAXARGS - 1) FAIL("too many arguments");
    p->argv[n++] = (char *)a;
  }
  p->argv[n] = NULL;
  p->seq = ++et__seq;
  snprintf(out, sizeof out, "%s/out.%d", e->dir, p->seq);
  snprintf(err, sizeof err, "%s/err.%d", e->dir, p->seq);
  p->pid = tu_spawn(p->argv, out, err);
}

/* Starts `dbfork COMMAND <conn> -D db args...` (va_list up to NULL). */
static inline void et_vstart(et_proc *p, const et_env *e, const char *command, va_list ap) {
  int n = 0;
  memset(p, 0, sizeof *p);
  p->argv[n++] = getenv("DBFORK_CLI");
  p->argv[n++] = (char *)command;
  n += tu_cli_conn(p->argv + n, p->pw, sizeof p->pw, e->tcp);
  et_spawn(p, e, n, ap);
}

/* Starts `dbfork exec <conn> -D db args... NULL` in the background. */
static inline void et_start(et_proc *p, const et_env *e, ...) {
  va_list ap;
  va_start(ap, e);
  et_vstart(p, e, "exec", ap);
  va_end(ap);
}

static inline void et_wait(et_proc *p, const et_env *e, et_run *r, int timeout_ms) {
  char path[128];
  memset(r, 0, sizeof *r);
  r->rc = tu_wait_exit(p->pid, timeout_ms, "dbfork exec");
  snprintf(path, sizeof path, "%s/out.%d", e->dir, p->seq);
  r->out = et__read(path);
  snprintf(path, sizeof path, "%s/err.%d", e->dir, p->seq);
  r->err = et__read(path);
  if (getenv("DBFORK_TEST_VERBOSE"))
    fprintf(stderr, "---- dbfork exec exit %d\n---- stdout:\n%s---- stderr:\n%s----\n", r->rc,
            r->out, r->err);
}

#define et_exec(r, e, ...)              \
  do {                                  \
    et_proc et__p;                      \
    et_start(&et__p, (e), __VA_ARGS__); \
    et_wait(&et__p, (e), (r), 120000);  \
  } while (0)

#define CHECK_EXIT(r, want)                                                                     \
  do {                                                                                          \
    if ((r)->rc != (want))                                                                      \
      FAIL("dbfork exec exited %d, expected %d\n---- stdout:\n%s---- stderr:\n%s----", (r)->rc, \
           (want), (r)->out, (r)->err);                                                         \
  } while (0)

#define et_children tu_children
#define et_try_ll tu_try_ll

/* Waits until `sql` returns at least `want`. */
static inline void et_wait_for(MYSQL *m, const char *sql, long long want, int timeout_ms,
                               const char *what) {
  long long t0 = tu_now_ms();
  while (et_try_ll(m, sql) < want) {
    if (tu_now_ms() - t0 > timeout_ms) FAIL("%s: not within %d ms", what, timeout_ms);
    tu_sleep_ms(5);
  }
}

/* A JSON number field of the command's output, -1 if missing. */
static inline double et_json_num(const char *out, const char *key) {
  char pat[64];
  const char *p;
  snprintf(pat, sizeof pat, "\"%s\":", key);
  p = strstr(out, pat);
  return p ? atof(p + strlen(pat)) : -1;
}

/* Sessions held running SELECT SLEEP(secs) (the fake load): forked
 * processes, each with its own connection. */
static inline void et_sleepers(pid_t *pids, int n, double secs) {
  int i;
  for (i = 0; i < n; i++) {
    fflush(stdout);
    fflush(stderr);
    pids[i] = fork();
    if (pids[i] == 0) {
      MYSQL *m = tu_connect();
      char sql[64];
      MYSQL_RES *r;
      snprintf(sql, sizeof sql, "SELECT SLEEP(%.2f)", secs);
      if (!mysql_query(m, sql) && (r = mysql_store_result(m))) mysql_free_result(r);
      mysql_close(m);
      _exit(0);
    }
  }
}

static inline void et_reap(pid_t *pids, int n) {
  int i, st;
  for (i = 0; i < n; i++) waitpid(pids[i], &st, 0);
}

#endif
