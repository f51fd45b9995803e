/*
 * Fault: a task that fails under transaction=1 after it wrote something.
 * Whatever way it fails (dbfork_worker_fail, a bare error code, an SQL error,
 * or a failure that leaves the session unable even to ROLLBACK), none of its
 * writes may reach the table: not now, and not through the next task's
 * START TRANSACTION, which implicitly commits a transaction left open.
 *
 * One worker runs every task on its one session, so each failing task is
 * followed by a succeeding one on the same session.
 *
 * A task that calls dbfork_worker_fail() and then returns 0 anyway is a
 * failed task too: its completion carries the failure, and its transaction
 * is rolled back, not committed.
 */
#include "fault.h"

#define TASKS 40

static char table[96];

enum { OK, FAIL_DETAIL, FAIL_CODE, FAIL_SQL, FAIL_UNREAD, NKINDS };

static int kind_of(int i) { return i % NKINDS; }

/* Inserts row i, then ends as kind_of(i) says. */
static int write_then_fail_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  int32_t i;
  char sql[256];
  (void)arg;
  if (len != sizeof i) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad payload");
  memcpy(&i, in, sizeof i);
  snprintf(sql, sizeof sql, "INSERT INTO `%s` VALUES (%d, %lld)", table, (int)i, ft_v(i));
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  switch (kind_of(i)) {
    case FAIL_DETAIL:
      return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "task %d refuses", (int)i);
    case FAIL_CODE: return DBFORK_EINVAL;
    case FAIL_SQL:
      /* a duplicate key: the server rejects this statement only, the
       * transaction with row i stays open on the server */
      if (mysql_query(m, sql)) return DBFORK_ESQL;
      return 0;
    case FAIL_UNREAD:
      /* a result left unread: the session cannot even ROLLBACK (commands out
       * of sync) */
      if (mysql_query(m, "SELECT 1 UNION ALL SELECT 2")) return DBFORK_ESQL;
      return DBFORK_ETASK;
    default: return 0;
  }
}

static int32_t payload[TASKS];
static int status[TASKS], calls[TASKS];

static int input(size_t i, const void **data, size_t *len, void *ud) {
  (void)ud;
  payload[i] = (int32_t)i;
  *data = &payload[i];
  *len = sizeof payload[i];
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  (void)ud;
  calls[i]++;
  status[i] = r->status;
  return 0;
}

TEST(failed_task_leaves_nothing_behind) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  long long want_count = 0, want_sum = 0;
  int i;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB", table);

  tu_options(&o);
  o.workers = 1;
  o.task = write_then_fail_task;
  o.transaction = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_OK(dbfork_map(p, TASKS, input, output, NULL));
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  for (i = 0; i < TASKS; i++) {
    int want = kind_of(i) == OK          ? 0
               : kind_of(i) == FAIL_CODE ? DBFORK_EINVAL
               : kind_of(i) == FAIL_SQL  ? DBFORK_ESQL
                                         : DBFORK_ETASK;
    CHECK_EQ_INT(calls[i], 1);
    if (status[i] != want)
      FAIL("task %d: %s, expected %s", i, dbfork_err_name(status[i]), dbfork_err_name(want));
    if (kind_of(i) == OK) {
      want_count++;
      want_sum += ft_v(i);
    }
  }
  /* Only the tasks that succeeded left rows. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), want_count);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COALESCE(SUM(v), 0) FROM `%s`", table), want_sum);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE id %% %d <> %d", table, NKINDS, OK),
               0);
  tu_exec(m, "DROP TABLE `%s`", table);
}

/* Inserts row 1, records a failure, and returns 0 all the same. */
static int fail_then_return_0_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char sql[256];
  (void)in;
  (void)len;
  (void)arg;
  snprintf(sql, sizeof sql, "INSERT INTO `%s` VALUES (1, %lld)", table, ft_v(1));
  if (mysql_query(dbfork_worker_mysql(w), sql)) return DBFORK_ESQL;
  dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "row %d is wrong", 1);
  return 0;
}

TEST(task_that_called_fail_and_returned_0_is_failed_and_rolled_back) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, b;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB", table);

  tu_options(&o);
  o.workers = 1;
  o.task = fail_then_return_0_task;
  o.transaction = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "x", &a, 10000);
  fprintf(stderr, "task: %s: %s\n", dbfork_err_name(a.status), a.msg);
  CHECK_ERR(a.status, DBFORK_ETASK);
  CHECK_EQ_STR(a.msg, "row 1 is wrong");
  CHECK_EQ_INT(a.attempts, 1);
  /* Not committed, and not left open for the next task's START TRANSACTION
   * to commit: the same task again finds no row 1 in its way. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 0);
  ft_run_one(p, "x", &b, 10000);
  CHECK_ERR(b.status, DBFORK_ETASK);
  CHECK_EQ_STR(b.msg, "row 1 is wrong");
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 0);
  tu_exec(m, "DROP TABLE `%s`", table);
}
