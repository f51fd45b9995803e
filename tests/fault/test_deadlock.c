/*
 * Fault: a workload that deadlocks on purpose, and one that hits the lock
 * wait timeout. Invariant 5: 1213 and 1205 roll back, back off with jitter and
 * retry inside the worker; every task ends ok, the retries show in
 * dbfork_result.attempts, and each task's effect is applied exactly once.
 * A clean path: Aborted_clients does not move.
 */
#include "fault.h"

#include <pthread.h>
#include <stdatomic.h>

#define WORKERS 2
#define TASKS 200

static char table[96];

/* Payload: one byte, 0 = lock row 1 then row 2, 1 = the opposite order. */
static int cross_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  int rev = len == 1 && *(const unsigned char *)in;
  char sql[256];
  snprintf(sql, sizeof sql, "UPDATE `%s` SET v = v + 1, n = n + 1 WHERE id = %d", table,
           rev ? 2 : 1);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  /* Give the other worker time to take its first row: a deadlock. */
  if (mysql_query(m, "DO SLEEP(0.005)")) return DBFORK_ESQL;
  snprintf(sql, sizeof sql, "UPDATE `%s` SET v = v + 1, n = n + 1 WHERE id = %d", table,
           rev ? 1 : 2);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  return 0;
}

typedef struct outcome {
  int calls, status;
  unsigned int attempts;
  char msg[200];
} outcome;
static outcome out[TASKS];
static unsigned char order[TASKS];

static int input(size_t i, const void **data, size_t *len, void *ud) {
  order[i] = (unsigned char)(i & 1);
  *data = &order[i];
  *len = 1;
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  out[i].calls++;
  out[i].status = r->status;
  out[i].attempts = r->attempts;
  snprintf(out[i].msg, sizeof out[i].msg, "%s", r->message);
  return 0;
}

TEST(deadlocks_are_retried_until_every_task_is_ok) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0, deadlocks0, retries = 0;
  int i, retried = 0;
  unsigned int max_attempts = 0;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m,
          "CREATE TABLE `%s` (id INT PRIMARY KEY, v BIGINT NOT NULL, n BIGINT NOT NULL) "
          "ENGINE=InnoDB",
          table);
  tu_exec(m, "INSERT INTO `%s` VALUES (1, 0, 0), (2, 0, 0)", table);
  aborted0 = tu_status(m, "Aborted_clients");
  deadlocks0 = tu_status(m, "Innodb_deadlocks");

  tu_options(&o);
  o.workers = WORKERS;
  o.task = cross_task;
  o.transaction = 1;
  o.max_retries = 30; /* deadlocks are random: the bound is not what this test measures */
  o.prefetch = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_OK(dbfork_map(p, TASKS, input, output, NULL));
  CHECK_OK(dbfork_pool_join(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), WORKERS);
  dbfork_pool_free(p);

  for (i = 0; i < TASKS; i++) {
    if (out[i].calls != 1 || out[i].status != 0)
      FAIL("task %d: calls=%d %s after %u attempts: %s", i, out[i].calls,
           dbfork_err_name(out[i].status), out[i].attempts, out[i].msg);
    retries += out[i].attempts - 1;
    if (out[i].attempts > 1) retried++;
    if (out[i].attempts > max_attempts) max_attempts = out[i].attempts;
  }
  fprintf(stderr, "%d of %d tasks retried, %lld retries, max attempts %u, server deadlocks %lld\n",
          retried, TASKS, retries, max_attempts, tu_status(m, "Innodb_deadlocks") - deadlocks0);
  CHECK(retried >= 1);
  CHECK_EQ_INT(st.retries, retries);
  CHECK_EQ_INT(st.completed_ok, TASKS);
  CHECK_EQ_INT(st.workers_lost, 0);
  /* Each task applied once: two increments per task on each of v and n. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(v) FROM `%s`", table), 2 * TASKS);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT v FROM `%s` WHERE id = 1", table), TASKS);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT v FROM `%s` WHERE id = 2", table), TASKS);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(n) FROM `%s`", table), 2 * TASKS);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}

/* ---- lock wait timeout (1205) ---- */

static int bump_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[256];
  if (mysql_query(m, "SET SESSION innodb_lock_wait_timeout = 1")) return DBFORK_ESQL;
  snprintf(sql, sizeof sql, "UPDATE `%s` SET v = v + 1 WHERE id = 1", table);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  return 0;
}

static MYSQL *holder;
static atomic_int holding;

/* Holds row 1 locked for 1.5 s, then rolls back. */
static void *hold_lock(void *arg) {
  (void)arg;
  tu_exec(holder, "START TRANSACTION");
  tu_exec(holder, "SELECT v FROM `%s` WHERE id = 1 FOR UPDATE", table);
  atomic_store(&holding, 1);
  tu_sleep_ms(1500);
  tu_exec(holder, "ROLLBACK");
  atomic_store(&holding, 2);
  return NULL;
}

static int one_input(size_t i, const void **data, size_t *len, void *ud) {
  *data = "x";
  *len = 1;
  return 0;
}

TEST(lock_wait_timeout_is_retried_until_the_lock_is_free) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  pthread_t th;
  long long aborted0, t0, took;

  holder = tu_connect();
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB", table);
  tu_exec(m, "INSERT INTO `%s` VALUES (1, 0)", table);
  aborted0 = tu_status(m, "Aborted_clients");

  tu_options(&o);
  o.workers = 1;
  o.task = bump_task;
  o.transaction = 1;
  o.max_retries = 5;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  CHECK(pthread_create(&th, NULL, hold_lock, NULL) == 0);
  while (!atomic_load(&holding)) tu_sleep_ms(5);
  t0 = tu_now_ms();
  memset(out, 0, sizeof out);
  CHECK_OK(dbfork_map(p, 1, one_input, output, NULL));
  took = tu_now_ms() - t0;
  pthread_join(th, NULL);
  fprintf(stderr, "task took %lld ms, %u attempts\n", took, out[0].attempts);
  CHECK_EQ_INT(out[0].calls, 1);
  if (out[0].status != 0) FAIL("%s: %s", dbfork_err_name(out[0].status), out[0].msg);
  /* The first attempt waited 1 s for the lock and timed out; a later one got
   * the lock after the holder let go at 1.5 s. */
  CHECK(out[0].attempts >= 2);
  CHECK(took >= 1400);
  CHECK(took < 5000);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  CHECK_EQ_INT(tu_query_ll(m, "SELECT v FROM `%s` WHERE id = 1", table), 1);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}
