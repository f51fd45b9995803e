/*
 * fault.h — helpers shared by the fault tests (tests/fault/): the row-range
 * workload and the checks every fault test runs on the database afterwards.
 *
 * The workload: task k inserts rows first .. first+count-1 of a table
 *   (id INT PRIMARY KEY, task INT, v BIGINT)
 * with v = ft_v(id), in one INSERT. A table is exact when it holds every
 * expected id once, no other, and the checksums SUM(id), SUM(v), SUM(id*v)
 * match what the ids imply. A task applied twice cannot hide: its second
 * INSERT fails on the PRIMARY KEY (and the completion says so).
 *
 * Everything is `static` so each test takes what it uses.
 */
#ifndef DBFORK_FAULT_H
#define DBFORK_FAULT_H

#include "dbfork.h"
#include "testutil.h"

#include <errno.h>
#include <mysql.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Forwards the pool's diagnostics to stderr (ctest --output-on-failure). */
static inline void ft_log(int level, const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "[dbfork %d] %s\n", level, msg);
}

/* The value stored with row `id`: anything a lost or doubled row would
 * change in the checksums. */
static inline long long ft_v(long long id) { return (id * 7919 + 13) % 100003; }

/* One task of the row-range workload. */
typedef struct ft_range {
  int32_t task;     /* task number, stored in every row */
  int32_t first;    /* first row id */
  int32_t count;    /* rows */
  int32_t sleep_ms; /* DO SLEEP() before the INSERT, inside the task */
} ft_range;

/* The range task. task_arg is the table name (a string that outlives the
 * pool: workers are forked copies). Runs in the worker. */
static inline int ft_range_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  const char *table = arg;
  MYSQL *m = dbfork_worker_mysql(w);
  ft_range r;
  char *sql;
  size_t cap, off;
  int i;
  if (len != sizeof r) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad payload");
  memcpy(&r, in, sizeof r);
  if (r.sleep_ms > 0) {
    char s[64];
    snprintf(s, sizeof s, "DO SLEEP(%d.%03d)", r.sleep_ms / 1000, r.sleep_ms % 1000);
    if (mysql_query(m, s)) return DBFORK_ESQL;
  }
  cap = 128 + strlen(table) + (size_t)r.count * 48;
  sql = malloc(cap);
  if (!sql) return DBFORK_ENOMEM;
  off = (size_t)snprintf(sql, cap, "INSERT INTO `%s` (id, task, v) VALUES ", table);
  for (i = 0; i < r.count; i++) {
    long long id = (long long)r.first + i;
    off += (size_t)snprintf(sql + off, cap - off, "%s(%lld,%d,%lld)", i ? "," : "", id, r.task,
                            ft_v(id));
  }
  i = mysql_real_query(m, sql, (unsigned long)off);
  free(sql);
  return i ? DBFORK_ESQL : 0;
}

/* The SQL task: the payload is SQL statements separated by ';' (none may
 * contain one); the reply is the first column of the first row of the last,
 * if any. A payload "csleep:MS" instead sleeps MS
 * milliseconds in C, deaf to KILL QUERY and SIGTERM (a task stuck outside
 * the server). */
static inline int ft_sql_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  MYSQL_RES *res;
  MYSQL_ROW row;
  int rc = 0;
  (void)arg;
  if (len > 7 && !memcmp(in, "csleep:", 7)) {
    char num[32] = {0};
    memcpy(num, (const char *)in + 7, len - 7 < sizeof num - 1 ? len - 7 : sizeof num - 1);
    tu_sleep_ms(atoi(num));
    return 0;
  }
  for (;;) {
    const char *semi = memchr(in, ';', len);
    size_t n = semi ? (size_t)(semi - (const char *)in) : len;
    if (mysql_real_query(m, in, (unsigned long)n)) return DBFORK_ESQL;
    res = mysql_store_result(m);
    if (!res && mysql_field_count(m)) return DBFORK_ESQL;
    if (!semi) break;
    if (res) mysql_free_result(res);
    in = semi + 1;
    len -= n + 1;
  }
  if (!res) return 0;
  row = mysql_fetch_row(res);
  if (row && row[0]) rc = dbfork_worker_reply(w, row[0], mysql_fetch_lengths(res)[0]);
  mysql_free_result(res);
  return rc;
}

/* One completion, copied out. */
typedef struct ft_track {
  int calls;
  int status;
  unsigned int mysql_errno;
  char msg[256];
  char reply[64];
  unsigned int attempts;
  int slot;
  long pid;
  unsigned long conn_id;
  long long at_ms; /* when the completion ran */
} ft_track;

static inline void ft_track_cb(const dbfork_result *r, void *ud) {
  ft_track *t = ud;
  size_t n = r->len < sizeof t->reply - 1 ? r->len : sizeof t->reply - 1;
  t->calls++;
  t->status = r->status;
  t->mysql_errno = r->mysql_errno;
  snprintf(t->msg, sizeof t->msg, "%s", r->message);
  if (n) memcpy(t->reply, r->data, n); /* r->data may be NULL when len is 0 */
  t->reply[n] = 0;
  t->attempts = r->attempts;
  t->slot = r->worker_slot;
  t->pid = r->worker_pid;
  t->conn_id = r->connection_id;
  t->at_ms = tu_now_ms();
}

/* Submits a payload tracked by *t and runs the pool's loop until it has
 * completed (or timeout_ms passes: then the test fails). */
static inline void ft_run_one(dbfork_pool *p, const char *payload, ft_track *t, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  memset(t, 0, sizeof *t);
  CHECK_OK(dbfork_submit(p, payload, strlen(payload), ft_track_cb, t));
  while (!t->calls) {
    if (tu_now_ms() > deadline)
      FAIL("task '%s' did not complete within %d ms", payload, timeout_ms);
    dbfork_pool_run(p, 2); /* without blocking, so that the deadline holds */
    if (!t->calls) tu_sleep_ms(1);
  }
}

/* Submits a payload tracked by *t without running the loop: several
 * submitted back to back reach a worker together (one window). */
static inline void ft_submit(dbfork_pool *p, const char *payload, ft_track *t) {
  memset(t, 0, sizeof *t);
  CHECK_OK(dbfork_submit(p, payload, strlen(payload), ft_track_cb, t));
}

/* Runs the pool's loop until every one of t[0..n) has completed (or
 * timeout_ms passes: then the test fails). */
static inline void ft_wait_all(dbfork_pool *p, ft_track *t, int n, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  int i;
  for (;;) {
    for (i = 0; i < n && t[i].calls; i++) continue;
    if (i == n) return;
    if (tu_now_ms() > deadline)
      FAIL("task %d of %d did not complete within %d ms", i, n, timeout_ms);
    dbfork_pool_run(p, 2); /* without blocking, so that the deadline holds */
    tu_sleep_ms(1);
  }
}

/* Runs one payload that must hit a 1 s time limit: DBFORK_ETIMEDOUT after
 * 950 to 2500 ms (the limit plus scheduling slack). */
static inline void ft_expect_timeout_1s(dbfork_pool *p, const char *payload, ft_track *t,
                                        int timeout_ms) {
  long long t0 = tu_now_ms(), took;
  ft_run_one(p, payload, t, timeout_ms);
  took = t->at_ms - t0;
  fprintf(stderr, "%s: %s after %lld ms (MySQL %u: %s), attempts %u\n", payload,
          dbfork_err_name(t->status), took, t->mysql_errno, t->msg, t->attempts);
  CHECK_ERR(t->status, DBFORK_ETIMEDOUT);
  CHECK(took >= 950);
  CHECK(took < 2500);
}

/* Creates (or re-creates) the workload table. */
static inline void ft_create_rows_table(MYSQL *m, const char *table) {
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m,
          "CREATE TABLE `%s` (id INT NOT NULL PRIMARY KEY, task INT NOT NULL, "
          "v BIGINT NOT NULL, KEY (task)) ENGINE=InnoDB",
          table);
}

/* Checks that `table` holds exactly ids 1..n with their values: row count,
 * no duplicates, bounds, and the three checksums. */
static inline void ft_check_rows_exact(MYSQL *m, const char *table, long long n) {
  long long sum_id = 0, sum_v = 0, sum_idv = 0, id;
  for (id = 1; id <= n; id++) {
    sum_id += id;
    sum_v += ft_v(id);
    sum_idv += id * ft_v(id);
  }
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), n);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(DISTINCT id) FROM `%s`", table), n);
  if (n == 0) return;
  CHECK_EQ_INT(tu_query_ll(m, "SELECT MIN(id) FROM `%s`", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT MAX(id) FROM `%s`", table), n);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(id) FROM `%s`", table), sum_id);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(v) FROM `%s`", table), sum_v);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(id * v) FROM `%s`", table), sum_idv);
  /* Every row's value is the one its id implies. */
  CHECK_EQ_INT(
      tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE v <> (id * 7919 + 13) %% 100003", table), 0);
}

/* Rows of task range [first, first+count) present in `table`. */
static inline long long ft_range_rows(MYSQL *m, const char *table, const ft_range *r) {
  return tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE id BETWEEN %d AND %d", table, r->first,
                     r->first + r->count - 1);
}

/* Reads /proc/<pid>/stat: 1 if pid is a live (non-zombie) child of ours. */
static inline int ft_is_live_child(long pid) {
  char path[64], buf[512], *p, state = 0;
  int ppid = 0, ok = 0;
  FILE *f;
  if (pid <= 0) return 0;
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (!(f = fopen(path, "r"))) return 0;
  if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) != NULL &&
      sscanf(p + 1, " %c %d", &state, &ppid) == 2)
    ok = state != 'Z' && state != 'X' && ppid == (int)getpid();
  fclose(f);
  return ok;
}

/* Is connection `id` in the server's PROCESSLIST? */
static inline long long ft_conn_present(MYSQL *m, unsigned long id) {
  return tu_query_ll(m, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu", id);
}

/* Waits up to timeout_ms for connection `id` to leave the PROCESSLIST;
 * returns 1 if it is still there. */
static inline long long ft_wait_conn_gone(MYSQL *m, unsigned long id, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms, n;
  while ((n = ft_conn_present(m, id)) != 0 && tu_now_ms() < deadline) tu_sleep_ms(10);
  return n;
}

/* Aborted_clients, read once this test's sessions are all gone (the server
 * bumps it asynchronously when it tears a session down). */
static inline long long ft_aborted_clients_after(MYSQL *m, const char *prog) {
  CHECK_EQ_INT(tu_wait_sessions(m, prog, 0, 5000), 0);
  tu_sleep_ms(50);
  return tu_status(m, "Aborted_clients");
}

#endif
