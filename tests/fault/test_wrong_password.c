/*
 * Fault: the initializer cannot connect (wrong password). Invariant 6:
 * start() fails with the server's own message in bounded time, after
 * max_start_failures consecutive failures with exponential backoff — a
 * bounded number of forks, never a respawn storm — and the pool then refuses
 * tasks. A failed login is Aborted_connects, never Aborted_clients.
 */
#include "fault.h"

static void never_called(const dbfork_result *r, void *ud) {
  FAIL("a rejected submit called its callback (status %d)", r->status);
}

/* A failed pool refuses tasks, and a refused task's callback never runs. */
static void check_failed_pool(dbfork_pool *p) {
  CHECK_ERR(dbfork_submit(p, "x", 1, never_called, NULL), DBFORK_EINIT);
}

TEST(wrong_password_single_worker_fails_after_max_start_failures_with_backoff) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0 = tu_status(m, "Aborted_clients");
  long long connects0 = tu_status(m, "Aborted_connects");
  long long t0, took;
  const char *err;

  tu_options(&o);
  o.workers = 1;
  o.password = "certainly-not-the-password";
  o.max_start_failures = 4;
  o.start_backoff_ms = 100;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  t0 = tu_now_ms();
  CHECK_ERR(dbfork_pool_start(p), DBFORK_EINIT);
  took = tu_now_ms() - t0;
  err = dbfork_pool_last_error(p);
  fprintf(stderr, "start failed after %lld ms: %s\n", took, err);
  CHECK(strstr(err, "Access denied") != NULL);
  CHECK(strstr(err, "1045") != NULL);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  /* Exactly max_start_failures forks: one per attempt, no more. */
  CHECK_EQ_INT(st.workers_started, 4);
  /* Exponential backoff between them: 100 + 200 + 400 ms. */
  CHECK(took >= 650);
  CHECK(took < 5000);
  check_failed_pool(p);
  dbfork_pool_free(p);

  /* Other tests may fail logins concurrently: at least ours are there. */
  CHECK(tu_status(m, "Aborted_connects") - connects0 >= 4);
  CHECK_EQ_INT(tu_sessions(m, o.program_name), 0);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), aborted0);
}

TEST(wrong_password_many_workers_fails_fast_with_bounded_forks) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0 = tu_status(m, "Aborted_clients");
  long long t0, took;

  tu_options(&o);
  o.workers = 8;
  o.password = "certainly-not-the-password";
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  t0 = tu_now_ms();
  CHECK_ERR(dbfork_pool_start(p), DBFORK_EINIT);
  took = tu_now_ms() - t0;
  fprintf(stderr, "start failed after %lld ms: %s\n", took, dbfork_pool_last_error(p));
  CHECK(strstr(dbfork_pool_last_error(p), "Access denied") != NULL);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 8);
  fprintf(stderr, "workers started: %llu\n", (unsigned long long)st.workers_started);
  /* The first round forks every slot; after that at most max_start_failures
   * (default 3) more before the pool gives up. */
  CHECK(st.workers_started >= 3);
  CHECK(st.workers_started <= 8 + 3);
  CHECK(took < 3000);
  check_failed_pool(p);
  dbfork_pool_free(p);

  CHECK_EQ_INT(tu_sessions(m, o.program_name), 0);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), aborted0);
}
