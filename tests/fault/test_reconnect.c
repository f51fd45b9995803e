/*
 * Fault: a worker's session is killed on the server between tasks, and a
 * deadlock hits a task that manages its own transaction.
 *
 * - The on_connect hook runs again on the new session: session state a task
 *   relies on (a user variable here) is back, and the server saw the hook run
 *   once per session.
 * - Without transaction=1 the pool does not retry a deadlock: statements of
 *   the task before the failing one may already have committed. The task fails
 *   1213 after one attempt, and every task that succeeded was applied exactly
 *   once.
 */
#include "fault.h"

#include <stdatomic.h>

static char table[96];

/* on_connect: set the session state, and leave a trace the server keeps. */
static int hook(dbfork_worker *w, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[256];
  (void)arg;
  if (mysql_query(m, "SET @dbfork_tag = 'hooked'")) return DBFORK_ESQL;
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (conn_id) VALUES (CONNECTION_ID())", table);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  return 0;
}

TEST(on_connect_runs_again_after_the_session_is_killed) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, b;
  unsigned long first;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (conn_id BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB", table);

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.on_connect = hook;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  ft_run_one(p, "SELECT @dbfork_tag", &a, 10000);
  CHECK_OK(a.status);
  CHECK_EQ_STR(a.reply, "hooked");
  first = a.conn_id;

  /* The server drops the session while the worker is idle; after a second
   * idle the worker checks its connection before the next task. */
  tu_exec(m, "KILL CONNECTION %lu", first);
  CHECK_EQ_INT(ft_wait_conn_gone(m, first, 5000), 0);
  tu_sleep_ms(1200);
  ft_run_one(p, "SELECT @dbfork_tag", &b, 20000);
  CHECK_OK(b.status);
  CHECK_EQ_STR(b.reply, "hooked");
  CHECK_EQ_INT(b.pid, a.pid); /* the same worker, reconnected */
  CHECK(b.conn_id != first);

  /* The hook ran once on each session, as the server recorded it. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 2);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE conn_id = %lu", table, first), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE conn_id = %lu", table, b.conn_id),
               1);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  tu_exec(m, "DROP TABLE `%s`", table);
}

#define TASKS 200

/* Its own transaction: lock one row, wait, lock the other (the order given
 * by the payload), commit. Two workers with opposite orders deadlock. */
static int own_trx_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  int rev = len == 1 && *(const unsigned char *)in;
  char sql[256];
  (void)arg;
  if (mysql_query(m, "START TRANSACTION")) return DBFORK_ESQL;
  snprintf(sql, sizeof sql, "UPDATE `%s` SET v = v + 1 WHERE id = %d", table, rev ? 2 : 1);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  if (mysql_query(m, "DO SLEEP(0.005)")) return DBFORK_ESQL;
  snprintf(sql, sizeof sql, "UPDATE `%s` SET v = v + 1 WHERE id = %d", table, rev ? 1 : 2);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  if (mysql_query(m, "COMMIT")) return DBFORK_ESQL;
  return 0;
}

static unsigned char order[TASKS];
static int ok_tasks, deadlocked, other_failures, calls[TASKS];

static int input(size_t i, const void **data, size_t *len, void *ud) {
  order[i] = (unsigned char)(i & 1);
  *data = &order[i];
  *len = 1;
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  calls[i]++;
  if (r->status == 0) {
    ok_tasks++;
  } else if (r->status == DBFORK_ESQL && r->mysql_errno == 1213 && r->attempts == 1) {
    deadlocked++;
  } else {
    fprintf(stderr, "task %zu: %s %u after %u attempts: %s\n", i, dbfork_err_name(r->status),
            r->mysql_errno, r->attempts, r->message);
    other_failures++;
  }
  return 0;
}

TEST(deadlock_without_transaction_option_is_not_retried) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  int i;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB", table);
  tu_exec(m, "INSERT INTO `%s` VALUES (1, 0), (2, 0)", table);

  tu_options(&o);
  o.workers = 2;
  o.task = own_trx_task;
  o.prefetch = 1;
  o.max_retries = 30; /* would retry, if the pool retried without transaction=1 */
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_OK(dbfork_map(p, TASKS, input, output, NULL));
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  for (i = 0; i < TASKS; i++) CHECK_EQ_INT(calls[i], 1);
  fprintf(stderr, "%d ok, %d failed on a deadlock after one attempt\n", ok_tasks, deadlocked);
  CHECK_EQ_INT(other_failures, 0);
  CHECK(deadlocked >= 1);
  CHECK_EQ_INT(ok_tasks + deadlocked, TASKS);
  /* Each ok task applied once (two increments); a deadlocked one not at all
   * (InnoDB rolled its whole transaction back). */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(v) FROM `%s`", table), 2LL * ok_tasks);
  tu_exec(m, "DROP TABLE `%s`", table);
}
