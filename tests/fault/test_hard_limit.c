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

/* Without transaction=1 a worker sends replies in batches. A quick task's
 * reply must not sit in the worker's buffer while the next task hangs: the
 * hard limit is the hung task's, so the quick one completes ok and the hung
 * one DBFORK_ETIMEDOUT after one attempt — not "finished, result lost" for
 * the quick one and a re-run (its INSERT applied twice) for the hung one. */
TEST(hard_limit_kills_the_hung_task_not_the_quick_one_before_it) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  ft_track t[3];
  char table[96], busy[192], quick[192], hung[192];
  int i;

  /* No primary key: a second run of the hung task would add a second row. */
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT NOT NULL) ENGINE=InnoDB", table);
  snprintf(busy, sizeof busy, "INSERT INTO `%s` (id) VALUES (0); SELECT SLEEP(0.3)", table);
  snprintf(quick, sizeof quick, "INSERT INTO `%s` (id) VALUES (1)", table);
  snprintf(hung, sizeof hung, "INSERT INTO `%s` (id) VALUES (2); SELECT SLEEP(60)", table);

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.hard_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  /* The worker is busy for 300 ms while the quick and the hung task reach
   * it, so it finds both in one read: the case where it batches replies.
   * (Its INSERT opens the table, so that the quick INSERT is quick.) */
  ft_submit(p, busy, &t[0]);
  ft_submit(p, quick, &t[1]);
  ft_submit(p, hung, &t[2]);
  ft_wait_all(p, t, 3, 30000);
  for (i = 0; i < 3; i++)
    fprintf(stderr, "task %d: %s (MySQL %u: %s), attempts %u, pid %ld\n", i,
            dbfork_err_name(t[i].status), t[i].mysql_errno, t[i].msg, t[i].attempts, t[i].pid);
  CHECK_ERR(t[0].status, 0);
  CHECK_ERR(t[1].status, 0);
  CHECK_EQ_INT(t[1].attempts, 1);
  CHECK_ERR(t[2].status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(t[2].attempts, 1);
  CHECK_EQ_INT(t[2].pid, t[1].pid);
  /* The quick task's reply did not wait for the hung task's end. */
  CHECK(t[2].at_ms - t[1].at_ms >= 500);
  /* What the server saw: each INSERT once. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE id = 0", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE id = 1", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE id = 2", table), 1);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  CHECK_EQ_INT(st.workers_lost, 1);
  CHECK_EQ_INT(st.retries, 0);
  CHECK_EQ_INT(st.completed_ok, 2);
  CHECK_EQ_INT(st.completed_failed, 1);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  tu_exec(m, "DROP TABLE `%s`", table);
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
