/*
 * Fault: a task that hangs in the server, under a soft time limit. The
 * parent sends KILL QUERY <connection id>: the statement stops, the task
 * fails DBFORK_ETIMEDOUT in about the limit, and the worker keeps its process
 * and its connection — the next task runs on the same pid and the same
 * connection id. Nothing is aborted: Aborted_clients does not move.
 */
#include "fault.h"

TEST(soft_limit_stops_the_statement_and_keeps_the_connection) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  ft_track a, b;
  long long aborted0 = tu_status(m, "Aborted_clients");
  char want[32];

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  ft_expect_timeout_1s(p, "SELECT SLEEP(60)", &a, 20000);
  CHECK_EQ_INT(a.attempts, 1);
  CHECK(a.conn_id != 0);

  /* The same worker, the same session, still usable. */
  ft_run_one(p, "SELECT CONNECTION_ID()", &b, 10000);
  if (b.status) FAIL("next task: %s: %s", dbfork_err_name(b.status), b.msg);
  CHECK_EQ_INT(b.pid, a.pid);
  CHECK_EQ_INT(b.conn_id, a.conn_id);
  snprintf(want, sizeof want, "%lu", a.conn_id);
  CHECK_EQ_STR(b.reply, want);
  CHECK_EQ_INT(ft_conn_present(m, a.conn_id), 1);

  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  CHECK_EQ_INT(st.workers_started, 1);
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(st.sessions_killed, 0);
  CHECK_EQ_INT(st.completed_failed, 1);
  CHECK_EQ_INT(st.completed_ok, 1);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
}

TEST(soft_limit_fires_when_the_loop_was_idle_before_the_submit) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a;
  long long aborted0 = tu_status(m, "Aborted_clients");

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  /* The application does something else for a while before it submits:
   * the pool's loop is idle, its cached clock goes stale. */
  tu_sleep_ms(300);
  ft_expect_timeout_1s(p, "SELECT SLEEP(10)", &a, 30000);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
}

TEST(soft_limit_inside_a_transaction_rolls_back_and_keeps_the_connection) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, b;
  char table[96], sql[256];
  long long aborted0 = tu_status(m, "Aborted_clients");

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY) ENGINE=InnoDB", table);

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.transaction = 1;
  o.soft_time_limit_ms = 500;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  /* The INSERT is done, then the statement hangs: the limit must roll the
   * whole task back, not commit half of it. */
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (id) VALUES (1); SELECT SLEEP(30)", table);
  ft_run_one(p, sql, &a, 20000);
  fprintf(stderr, "hanging INSERT: %s (MySQL %u: %s), attempts %u\n", dbfork_err_name(a.status),
          a.mysql_errno, a.msg, a.attempts);
  CHECK_ERR(a.status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(a.attempts, 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 0);

  snprintf(sql, sizeof sql, "INSERT INTO `%s` (id) VALUES (2)", table);
  ft_run_one(p, sql, &b, 10000);
  if (b.status) FAIL("next task: %s: %s", dbfork_err_name(b.status), b.msg);
  CHECK_EQ_INT(b.pid, a.pid);
  CHECK_EQ_INT(b.conn_id, a.conn_id);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT id FROM `%s`", table), 2);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}

/* Without transaction=1 a worker sends replies in batches. A quick task's
 * reply must not sit in the worker's buffer while the next task runs into
 * the soft limit: the KILL QUERY is the slow task's, which completes
 * DBFORK_ETIMEDOUT, and the quick one completes ok. Several rounds: how the
 * frames reach the worker varies from run to run. */
TEST(soft_limit_stops_the_slow_task_not_the_quick_one_before_it) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0 = tu_status(m, "Aborted_clients");
  int round, i, rounds = 5;
  long pid = 0;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  for (round = 0; round < rounds; round++) {
    ft_track t[3];
    /* The worker is busy for 300 ms while the quick and the slow task
     * reach it, so it finds both in one read. */
    ft_submit(p, "SELECT SLEEP(0.3)", &t[0]);
    ft_submit(p, "SELECT 'quick'", &t[1]);
    ft_submit(p, "SELECT SLEEP(30)", &t[2]);
    ft_wait_all(p, t, 3, 40000);
    for (i = 0; i < 3; i++)
      fprintf(stderr, "round %d task %d: %s (MySQL %u: %s), attempts %u\n", round, i,
              dbfork_err_name(t[i].status), t[i].mysql_errno, t[i].msg, t[i].attempts);
    CHECK_ERR(t[0].status, 0);
    CHECK_ERR(t[1].status, 0);
    CHECK_EQ_STR(t[1].reply, "quick");
    CHECK_ERR(t[2].status, DBFORK_ETIMEDOUT);
    CHECK_EQ_INT(t[2].attempts, 1);
    /* Nothing waited in the queue: the quick task's reply did not wait for
     * the slow task (which ran for the 1 s limit after it). */
    CHECK(t[2].at_ms - t[1].at_ms >= 500);
    /* One worker all along: the soft limit keeps it. */
    if (!pid) pid = t[0].pid;
    for (i = 0; i < 3; i++) CHECK_EQ_INT(t[i].pid, pid);
  }
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  CHECK_EQ_INT(st.workers_started, 1);
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(st.completed_ok, 2 * rounds);
  CHECK_EQ_INT(st.completed_failed, rounds);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
}

/* While tasks wait in the queue the worker may send quick tasks' replies
 * together, so a finished task's reply can still be in its buffer while the
 * next task runs into the limit. The KILL QUERY is still the running task's:
 * the parent goes by what the worker publishes, not by the replies it got. */
TEST(soft_limit_stops_the_slow_task_while_replies_are_batched) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0 = tu_status(m, "Aborted_clients");
  int round, i, rounds = 3;

  tu_options(&o);
  o.workers = 1;
  o.prefetch = 3; /* the window: busy, quick, slow; the rest waits in the queue */
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  for (round = 0; round < rounds; round++) {
    ft_track t[5];
    ft_submit(p, "SELECT SLEEP(0.3)", &t[0]);
    ft_submit(p, "SELECT 'quick'", &t[1]);
    ft_submit(p, "SELECT SLEEP(30)", &t[2]);
    ft_submit(p, "SELECT 'after1'", &t[3]);
    ft_submit(p, "SELECT 'after2'", &t[4]);
    ft_wait_all(p, t, 5, 40000);
    for (i = 0; i < 5; i++)
      fprintf(stderr, "round %d task %d: %s (MySQL %u: %s), attempts %u, at +%lld ms\n", round, i,
              dbfork_err_name(t[i].status), t[i].mysql_errno, t[i].msg, t[i].attempts,
              t[i].at_ms - t[0].at_ms);
    CHECK_ERR(t[0].status, 0);
    CHECK_ERR(t[1].status, 0);
    CHECK_EQ_STR(t[1].reply, "quick");
    CHECK_ERR(t[2].status, DBFORK_ETIMEDOUT);
    CHECK_EQ_INT(t[2].attempts, 1);
    CHECK_ERR(t[3].status, 0);
    CHECK_EQ_STR(t[3].reply, "after1");
    CHECK_ERR(t[4].status, 0);
    CHECK_EQ_STR(t[4].reply, "after2");
  }
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  CHECK_EQ_INT(st.workers_started, 1);
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(st.completed_ok, 4 * rounds);
  CHECK_EQ_INT(st.completed_failed, rounds);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
}
