/*
 * Waiting for the work without closing the pool: dbfork_pool_run(p, 0)
 * returns once no task is queued or in flight, and dbfork_pool_wait_idle()
 * is a barrier between phases on one open pool (insert everything, check
 * it from the parent's own connection, then query it through the workers).
 */
#include "itest.h"

#include <pthread.h>

static void make_table(MYSQL *m, const char *table) {
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (i INT PRIMARY KEY) ENGINE=InnoDB", table);
}

static void submit_inserts(dbfork_pool *p, const char *table, int from, int n, it_track *t) {
  for (int i = from; i < from + n; i++) {
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO `%s` (i) VALUES (%d)", table, i);
    CHECK_OK(it_submit_sql(p, sql, &t[i]));
  }
}

static void check_done(const it_track *t, int n) {
  for (int i = 0; i < n; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
  }
}

/* With the pool's own loop and nonblocking submits, run(p, 0) is "run until
 * the work I gave is done", and the pool stays open for more. */
TEST(pool_run_default_returns_when_no_task_is_left) {
  MYSQL *m = tu_connect();
  char table[96];
  dbfork_options o;
  dbfork_pool *p = NULL;
  dbfork_pool_stats ps;
  static it_track t[200];
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  make_table(m, table);
  it_options(&o, tu_unique_name(), 2);
  o.submit_nonblocking = 1;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_EQ_INT(dbfork_pool_run(p, 0), 0); /* before start: nothing to wait for */
  CHECK_OK(dbfork_pool_start(p));
  submit_inserts(p, table, 0, 100, t);
  CHECK_EQ_INT(dbfork_pool_run(p, 0), 0);
  check_done(t, 100);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &ps, NULL, 0), 2);
  CHECK_EQ_INT(ps.queued, 0);
  CHECK_EQ_INT(ps.in_flight, 0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 100);
  /* Still open: a second round on the same workers. */
  submit_inserts(p, table, 100, 100, t);
  CHECK_EQ_INT(dbfork_pool_run(p, 0), 0);
  check_done(t, 200);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 200);
  CHECK_EQ_INT(tu_sessions(m, o.program_name), 2);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  tu_exec(m, "DROP TABLE `%s`", table);
}

static dbfork_pool *barrier_pool;
static int barrier_rc_in_cb = 1;
static void call_barrier(const dbfork_result *r, void *ud) {
  (void)r;
  (void)ud;
  barrier_rc_in_cb = dbfork_pool_wait_idle(barrier_pool);
}

static void *barrier_off_thread(void *arg) {
  *(int *)arg = dbfork_pool_wait_idle(barrier_pool);
  return NULL;
}

/* Phase 1 inserts, the barrier, phase 2 queries what phase 1 wrote, on the
 * same pool and the same sessions. */
TEST(wait_idle_separates_phases_on_one_pool) {
  MYSQL *m = tu_connect();
  char table[96], sql[160];
  dbfork_options o;
  dbfork_pool *p = NULL;
  dbfork_worker_stats before[2], after[2];
  static it_track t[1000], q[10], cb;
  pthread_t th;
  int off_rc = 1;
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  make_table(m, table);
  it_options(&o, tu_unique_name(), 2);
  o.queue_max = 64; /* blocking submits wait for room: the loop runs in them */
  CHECK_OK(dbfork_pool_new(&p, &o));
  barrier_pool = p;
  CHECK_ERR(dbfork_pool_wait_idle(p), DBFORK_ESTATE); /* not started */
  CHECK_OK(dbfork_pool_start(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, NULL, before, 2), 2);

  submit_inserts(p, table, 0, 1000, t);
  CHECK_OK(dbfork_pool_wait_idle(p));
  check_done(t, 1000);
  /* The parent sees every row of phase 1 before phase 2 begins. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 1000);

  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM `%s`", table);
  for (int i = 0; i < 10; i++) CHECK_OK(it_submit_sql(p, sql, &q[i]));
  CHECK_OK(dbfork_pool_wait_idle(p));
  for (int i = 0; i < 10; i++) {
    CHECK_EQ_INT(q[i].calls, 1);
    CHECK_EQ_STR(q[i].reply, "1000");
  }
  CHECK_OK(dbfork_pool_wait_idle(p)); /* idle already: returns at once */

  /* Not from a callback, not off the loop thread. */
  CHECK_OK(it_submit_sql(p, "SELECT 1", &cb));
  CHECK_OK(dbfork_submit(p, "SELECT 1", 8, call_barrier, NULL));
  CHECK_OK(dbfork_pool_wait_idle(p));
  CHECK_ERR(barrier_rc_in_cb, DBFORK_ESTATE);
  CHECK(pthread_create(&th, NULL, barrier_off_thread, &off_rc) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_ERR(off_rc, DBFORK_ESTATE);

  /* The same workers and sessions served both phases. */
  CHECK_EQ_INT(dbfork_pool_stats_get(p, NULL, after, 2), 2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(after[i].pid, before[i].pid);
    CHECK_EQ_INT(after[i].connection_id, before[i].connection_id);
  }
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  tu_exec(m, "DROP TABLE `%s`", table);
}
