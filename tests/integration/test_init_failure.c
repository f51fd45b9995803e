/*
 * A worker whose initializer fails is not respawned forever: start returns
 * DBFORK_EINIT with the initializer's error, within a bounded time and after a
 * bounded number of forks, and leaves no session behind.
 */
#include "itest.h"

enum { WORKERS = 2, MAX_FAILS = 3 };

/* Starts a pool that cannot start; returns its stats and last error. */
static void start_failing(dbfork_options *o, const char *expect_in_error) {
  o->max_start_failures = MAX_FAILS;
  o->start_backoff_ms = 50;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, o));
  long long t0 = tu_now_ms();
  int rc = dbfork_pool_start(pool);
  long long ms = tu_now_ms() - t0;
  dbfork_pool_stats ps;
  memset(&ps, 0, sizeof ps);
  dbfork_pool_stats_get(pool, &ps, NULL, 0);
  const char *err = dbfork_pool_last_error(pool);
  fprintf(stderr, "start: %s after %llu ms, %llu forks, last error: %s\n", dbfork_err_name(rc),
          (unsigned long long)ms, (unsigned long long)ps.workers_started, err ? err : "(null)");
  CHECK_ERR(rc, DBFORK_EINIT);
  CHECK(err != NULL && strstr(err, expect_in_error) != NULL);
  /* Backoff 50, 100, 200 ms: well under 10 s unless it respawns on and on. */
  CHECK(ms < 10000);
  CHECK(ps.workers_started >= 1);
  CHECK(ps.workers_started <= (uint64_t)WORKERS * MAX_FAILS);
  /* The failed pool refuses tasks. */
  it_track t;
  memset(&t, 0, sizeof t);
  int src = it_submit_sql(pool, "SELECT 1", &t);
  CHECK(src < 0);
  dbfork_pool_free(pool);
  CHECK_EQ_INT(t.calls, 0);
}

TEST(initializer_failure_fails_start) {
  dbfork_options o;
  it_options(&o, "dbf_init_badpw", WORKERS);
  o.password = "not-the-password";
  start_failing(&o, "Access denied");
}

/* The user's initializer fails after the built-in one connected: the same
 * bounded failure, with the user's message, and the connections the workers
 * opened are closed, not leaked. */
static int failing_init(dbfork_worker *w, void *arg) {
  (void)arg;
  return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "init says no (%d)", 42);
}

TEST(user_initializer_failure_fails_start) {
  const char *prog = "dbf_init_userfail";
  MYSQL *mon = tu_connect();
  dbfork_options o;
  it_options(&o, prog, WORKERS);
  o.init = failing_init;
  start_failing(&o, "init says no (42)");
  CHECK_EQ_INT(tu_wait_sessions(mon, prog, 0, 2000), 0);
  mysql_close(mon);
}
