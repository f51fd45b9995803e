/*
 * itest.h — small helpers shared by the integration tests (tests/integration/).
 *
 * Everything here is `static inline` so each test program takes what it uses
 * and nothing else; the general-purpose helpers (CHECK, TEST, tu_*) live in
 * tests/testutil.h. The tests assert on what the server sees: rows,
 * PROCESSLIST, performance_schema, status counters.
 */
#ifndef DBFORK_ITEST_H
#define DBFORK_ITEST_H

#include "dbfork.h"
#include "testutil.h"

#include <errno.h>
#include <mysql.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forwards the library's diagnostics to stderr, so a failing test's output
 * (ctest --output-on-failure) shows what the pool said. */
static inline void it_log(int level, const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "[dbfork %d] %s\n", level, msg);
}

/* The generic task: runs its payload as one SQL statement on the worker's own
 * connection and replies with the first column of the first row, if any. */
static inline int it_sql_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)arg;
  MYSQL *m = dbfork_worker_mysql(w);
  if (mysql_real_query(m, (const char *)in, (unsigned long)len) != 0) return DBFORK_ESQL;
  MYSQL_RES *res = mysql_store_result(m);
  if (res == NULL) return mysql_field_count(m) != 0 ? DBFORK_ESQL : 0;
  MYSQL_ROW row = mysql_fetch_row(res);
  int rc = 0;
  if (row != NULL && row[0] != NULL) {
    unsigned long *lens = mysql_fetch_lengths(res);
    rc = dbfork_worker_reply(w, row[0], lens[0]);
  }
  mysql_free_result(res);
  return rc;
}

/* Options for a test pool: the server from the environment, a program_name
 * unique to the test (so its sessions can be told apart from a concurrent
 * test's), `workers` workers, the generic SQL task and diagnostics on stderr. */
static inline void it_options(dbfork_options *o, const char *program_name, int workers) {
  tu_options(o);
  o->program_name = program_name;
  o->workers = workers;
  o->task = it_sql_task;
  o->log = it_log;
  o->log_level = DBFORK_LOG_WARN;
}

/* One task's outcome, copied out of its completion. */
typedef struct it_track {
  int calls;
  int status;
  unsigned int mysql_errno;
  char sqlstate[6];
  char msg[512];
  char reply[256];
  size_t len;
  unsigned int attempts;
  int slot;
  long pid;
  unsigned long conn_id;
} it_track;

static inline void it_track_copy(it_track *t, const dbfork_result *r) {
  t->calls++;
  t->status = r->status;
  t->mysql_errno = r->mysql_errno;
  memcpy(t->sqlstate, r->sqlstate, sizeof t->sqlstate);
  t->sqlstate[sizeof t->sqlstate - 1] = '\0';
  snprintf(t->msg, sizeof t->msg, "%s", r->message ? r->message : "(null message)");
  t->len = r->len;
  size_t n = r->len < sizeof t->reply - 1 ? r->len : sizeof t->reply - 1;
  if (n > 0) memcpy(t->reply, r->data, n);
  t->reply[n] = '\0';
  t->attempts = r->attempts;
  t->slot = r->worker_slot;
  t->pid = r->worker_pid;
  t->conn_id = r->connection_id;
}

static inline void it_track_cb(const dbfork_result *r, void *ud) { it_track_copy(ud, r); }

static inline void it_track_print(const char *what, const it_track *t) {
  fprintf(stderr,
          "%s: calls=%d status=%d (%s) errno=%u sqlstate='%s' msg='%s' reply='%s' attempts=%u "
          "slot=%d pid=%ld conn=%lu\n",
          what, t->calls, t->status, dbfork_err_name(t->status), t->mysql_errno, t->sqlstate,
          t->msg, t->reply, t->attempts, t->slot, t->pid, t->conn_id);
}

/* Submits `sql` (as the generic task's payload) tracked by *t. */
static inline int it_submit_sql(dbfork_pool *p, const char *sql, it_track *t) {
  return dbfork_submit(p, sql, strlen(sql), it_track_cb, t);
}

/* How many of the `n` connection ids are in the server's PROCESSLIST now. */
static inline long long it_ids_present(MYSQL *mon, const unsigned long *ids, int n) {
  char sql[4096];
  int off = snprintf(sql, sizeof sql,
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (0");
  for (int i = 0; i < n && off < (int)sizeof sql - 32; i++)
    off += snprintf(sql + off, sizeof sql - (size_t)off, ",%lu", ids[i]);
  snprintf(sql + off, sizeof sql - (size_t)off, ")");
  return tu_query_ll(mon, "%s", sql);
}

/* Waits up to timeout_ms for every one of the ids to leave the PROCESSLIST
 * (the server drops a session asynchronously after COM_QUIT or a closed
 * socket). Returns how many are still there. */
static inline long long it_wait_ids_gone(MYSQL *mon, const unsigned long *ids, int n,
                                         unsigned int timeout_ms) {
  long long end = tu_now_ms() + (long long)timeout_ms;
  long long left;
  while ((left = it_ids_present(mon, ids, n)) > 0 && tu_now_ms() < end) tu_sleep_ms(20);
  return left;
}

/* Runs the pool's own loop without blocking for about `ms` milliseconds, so
 * that it notices worker exits, replies and timers while the test waits. */
static inline void it_drive(dbfork_pool *p, unsigned int ms) {
  long long end = tu_now_ms() + (long long)ms;
  do {
    dbfork_pool_run(p, 2);
    tu_sleep_ms(5);
  } while (tu_now_ms() < end);
}

/* Reaps `pid` if it is a child of ours that has exited (a zombie is not a
 * live worker). Only for orphans the test inherited as subreaper: never on a
 * live pool's workers, whose exit status belongs to the pool. */
static inline void it_reap(long pid) {
  int st;
  (void)waitpid((pid_t)pid, &st, WNOHANG);
}

#endif
