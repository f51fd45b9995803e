/*
 * Fault: a task that hangs, under a hard time limit. The parent SIGKILLs the
 * worker and KILLs its session: the task fails DBFORK_ETIMEDOUT (and is not
 * retried), the session is gone from the PROCESSLIST, a new worker — new pid,
 * new connection — runs the next task.
 */
#include "fault.h"

static void check_replaced(MYSQL *m, dbfork_pool *p, const ft_track *a) {
  ft_track b;
  dbfork_pool_stats st;
  char want[32];
  /* The hung session is gone, at once (not after wait_timeout). */
  CHECK_EQ_INT(ft_wait_conn_gone(m, a->conn_id, 2000), 0);
  ft_run_one(p, "SELECT CONNECTION_ID()", &b, 10000);
  if (b.status) FAIL("next task: %s: %s", dbfork_err_name(b.status), b.msg);
  CHECK_NE_INT(b.pid, a->pid);
  CHECK_NE_INT(b.conn_id, a->conn_id);
  snprintf(want, sizeof want, "%lu", b.conn_id);
  CHECK_EQ_STR(b.reply, want);
  CHECK(!ft_is_live_child(a->pid));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  CHECK_EQ_INT(st.workers_started, 2);
  CHECK_EQ_INT(st.workers_lost, 1);
  CHECK_EQ_INT(st.sessions_killed, 1);
  CHECK_EQ_INT(st.retries, 0);
}

TEST(hard_limit_kills_the_worker_and_its_session) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.hard_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  ft_expect_timeout_1s(p, "SELECT SLEEP(60)", &a, 20000);
  CHECK_EQ_INT(a.attempts, 1);
  check_replaced(m, p, &a);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

TEST(hard_limit_after_a_soft_limit_the_task_ignored) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 300;
  o.hard_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  /* The application does something else for a while before it submits:
   * the pool's loop is idle, its cached clock goes stale. */
  tu_sleep_ms(200);
  /* Stuck outside the server: KILL QUERY at 300 ms cannot stop it. */
  ft_expect_timeout_1s(p, "csleep:10000", &a, 20000);
  CHECK_EQ_INT(a.attempts, 1);
  check_replaced(m, p, &a);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

/* A hard limit below the soft one is the first to pass: the worker is
 * SIGKILLed at the hard limit, not only once the soft limit has passed. */
TEST(hard_limit_below_the_soft_limit_fires_at_the_hard_limit) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a;
  long long t0, took;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 20000;
  o.hard_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  /* Stuck outside the server: only the hard limit can end it. */
  t0 = tu_now_ms();
  ft_run_one(p, "csleep:60000", &a, 40000);
  took = a.at_ms - t0;
  fprintf(stderr, "csleep: %s after %lld ms (%s), attempts %u\n", dbfork_err_name(a.status), took,
          a.msg, a.attempts);
  CHECK_ERR(a.status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(a.attempts, 1);
  /* Far below the soft limit (20 s), with room for a loaded machine. */
  CHECK(took < 10000);
  check_replaced(m, p, &a);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}
