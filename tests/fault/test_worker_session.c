/*
 * Fault: a worker's session dies on the server (KILL CONNECTION), and what
 * the worker and the parent believe about its connection afterwards.
 *
 * - The next task runs on a new session, whether the task that met the dead
 *   session failed on it (a lost-connection error) or failed for a reason
 *   of its own without touching the server. Tasks follow each other at once,
 *   so no idle check (1 s) comes to the rescue.
 * - After a reconnect the parent knows the new connection id before the task
 *   that follows it runs: a soft time limit's KILL QUERY stops that task's
 *   statement.
 * - reconnect=1 in an option file cannot make the client library reconnect
 *   behind the pool's back: the id the parent reports is the session the
 *   server shows for the worker, and on_connect ran on it.
 *
 * - A session whose on_connect failed after a reconnect runs no task.
 *
 * KILLs sessions on purpose: registered ABORTS_CLIENTS.
 */
#include "fault.h"

#include <fcntl.h>
#include <poll.h>

/* Runs the pool's loop without blocking until every tracker has completed,
 * failing the test after timeout_ms. */
static void run_until_done(dbfork_pool *p, ft_track *t, int n, int timeout_ms) {
  long long deadline = tu_now_ms() + timeout_ms;
  int i = 0;
  for (;;) {
    while (i < n && t[i].calls) i++;
    if (i == n) return;
    if (tu_now_ms() > deadline) FAIL("task %d did not complete within %d ms", i, timeout_ms);
    dbfork_pool_run(p, 2);
    tu_sleep_ms(1);
  }
}

static void submit(dbfork_pool *p, const char *payload, ft_track *t) {
  memset(t, 0, sizeof *t);
  CHECK_OK(dbfork_submit(p, payload, strlen(payload), ft_track_cb, t));
}

/* A task that reports CONNECTION_ID() ran on the session the parent
 * attributes it to, other than `old`, and the server lists that session. */
static void check_new_session(MYSQL *m, const ft_track *t, unsigned long old) {
  char want[32];
  if (t->status)
    FAIL("task: %s (MySQL %u: %s)", dbfork_err_name(t->status), t->mysql_errno, t->msg);
  snprintf(want, sizeof want, "%lu", t->conn_id);
  CHECK_EQ_STR(t->reply, want);
  CHECK(t->conn_id != old);
  CHECK_EQ_INT(ft_conn_present(m, t->conn_id), 1);
}

TEST(next_task_runs_on_a_new_session_after_a_lost_connection) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, t[3];
  long long deadline;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT CONNECTION_ID()", &a, 10000);
  CHECK_OK(a.status);

  /* Three tasks at once: the worker gets them together and starts each
   * right after the one before. The session dies under the first. */
  submit(p, "DO SLEEP(30)", &t[0]);
  submit(p, "SELECT CONNECTION_ID()", &t[1]);
  submit(p, "SELECT CONNECTION_ID()", &t[2]);
  deadline = tu_now_ms() + 20000;
  while (tu_query_ll(m,
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu AND "
                     "INFO LIKE 'DO SLEEP%%'",
                     a.conn_id) != 1) {
    if (tu_now_ms() > deadline) FAIL("the worker never ran DO SLEEP(30)");
    dbfork_pool_run(p, 2);
    tu_sleep_ms(5);
  }
  tu_exec(m, "KILL CONNECTION %lu", a.conn_id);
  run_until_done(p, t, 3, 60000);
  for (int i = 0; i < 3; i++)
    fprintf(stderr, "task %d: %s (MySQL %u: %s) on connection %lu, reply '%s'\n", i,
            dbfork_err_name(t[i].status), t[i].mysql_errno, t[i].msg, t[i].conn_id, t[i].reply);

  /* Without transaction=1 a lost connection is not retried... */
  CHECK_ERR(t[0].status, DBFORK_ECONNLOST);
  CHECK_EQ_INT(t[0].attempts, 1);
  /* ...but the tasks after it do not inherit the dead handle. */
  check_new_session(m, &t[1], a.conn_id);
  check_new_session(m, &t[2], a.conn_id);
  CHECK_EQ_INT(t[2].conn_id, t[1].conn_id);
  CHECK_EQ_INT(t[1].pid, a.pid); /* the same worker, reconnected */
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

/* The "hold" task tells the test it runs (a byte on `started`), waits for
 * the test's go (a byte on `go`) and fails without a word to the server.
 * Both pipes are inherited by the worker (pipes survive the fork hygiene). */
static int started[2], go[2];

static int hold_then_fail_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char c = 'x';
  if (len == 4 && !memcmp(in, "hold", 4)) {
    if (write(started[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
      return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "pipe: %s", strerror(errno));
    return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "failed on its own");
  }
  return ft_sql_task(w, in, len, arg);
}

TEST(next_task_runs_on_a_new_session_after_a_failed_task_on_a_killed_one) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, t[2];
  struct pollfd pfd;
  long long deadline;
  char c = 'g';

  TU_NEEDS_FORK_INHERITANCE("the hold task talks to the test through pipes it inherits");
  CHECK_OK(pipe(started));
  CHECK_OK(pipe(go));
  tu_options(&o);
  o.workers = 1;
  o.task = hold_then_fail_task;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT CONNECTION_ID()", &a, 10000);
  CHECK_OK(a.status);

  submit(p, "hold", &t[0]);
  submit(p, "SELECT CONNECTION_ID()", &t[1]);
  /* Once the first task runs, its session is killed; then it fails. */
  pfd.fd = started[0];
  pfd.events = POLLIN;
  deadline = tu_now_ms() + 20000;
  while (poll(&pfd, 1, 0) != 1) {
    if (tu_now_ms() > deadline) FAIL("the hold task never started");
    dbfork_pool_run(p, 2);
    tu_sleep_ms(1);
  }
  tu_exec(m, "KILL CONNECTION %lu", a.conn_id);
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  CHECK_EQ_INT(write(go[1], &c, 1), 1);
  run_until_done(p, t, 2, 60000);
  for (int i = 0; i < 2; i++)
    fprintf(stderr, "task %d: %s (MySQL %u: %s) on connection %lu, reply '%s'\n", i,
            dbfork_err_name(t[i].status), t[i].mysql_errno, t[i].msg, t[i].conn_id, t[i].reply);

  CHECK_ERR(t[0].status, DBFORK_ETASK);
  CHECK_EQ_STR(t[0].msg, "failed on its own");
  /* The failure did not say "lost connection", but after a failed task the
   * worker checks its session before trusting it with the next. */
  check_new_session(m, &t[1], a.conn_id);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

TEST(soft_limit_after_a_reconnect_stops_the_statement_on_the_new_session) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, b, c;
  long long t0;

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.soft_time_limit_ms = 1000;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT CONNECTION_ID()", &a, 10000);
  CHECK_OK(a.status);

  /* The session dies while the worker is idle; after more than a second
   * the worker checks it and reconnects at the start of the next task. */
  tu_exec(m, "KILL CONNECTION %lu", a.conn_id);
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  tu_sleep_ms(1200);
  t0 = tu_now_ms();
  ft_run_one(p, "SELECT SLEEP(20)", &b, 60000);
  fprintf(stderr, "SELECT SLEEP(20): %s after %lld ms (MySQL %u: %s) on connection %lu (old %lu)\n",
          dbfork_err_name(b.status), b.at_ms - t0, b.mysql_errno, b.msg, b.conn_id, a.conn_id);
  /* The parent's KILL QUERY reached the statement: it was interrupted
   * (ER_QUERY_INTERRUPTED), not run to its end. */
  CHECK_ERR(b.status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(b.mysql_errno, 1317);
  CHECK(b.conn_id != a.conn_id);
  CHECK(b.at_ms - t0 < 15000);

  /* The soft limit kept the new session: the next task runs on it. */
  ft_run_one(p, "SELECT CONNECTION_ID()", &c, 10000);
  check_new_session(m, &c, a.conn_id);
  CHECK_EQ_INT(c.conn_id, b.conn_id);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

static int tag_session(dbfork_worker *w, void *arg) {
  (void)arg;
  return mysql_query(dbfork_worker_mysql(w), "SET @dbfork_tag = 'hooked'") ? DBFORK_ESQL : 0;
}

TEST(option_file_reconnect_cannot_hide_a_new_session) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_worker_stats ws;
  ft_track a, b;
  char cnf[256], want[64];
  FILE *f;

  snprintf(cnf, sizeof cnf, "/tmp/%s-%ld.cnf", tu_unique_name(), (long)getpid());
  f = fopen(cnf, "w");
  CHECK(f != NULL);
  fprintf(f, "[dbfork]\nreconnect=1\n");
  fclose(f);

  tu_options(&o);
  o.no_defaults = 0;
  o.defaults_file = cnf;
  o.workers = 1;
  o.task = ft_sql_task;
  o.on_connect = tag_session;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT CONNECTION_ID()", &a, 10000);
  CHECK_OK(a.status);

  /* Killed while idle; the check before the next task must find the
   * session gone rather than let the client library replace it quietly. */
  tu_exec(m, "KILL CONNECTION %lu", a.conn_id);
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  tu_sleep_ms(1200);
  ft_run_one(p, "SELECT CONCAT(CONNECTION_ID(), ':', IFNULL(@dbfork_tag, 'none'))", &b, 20000);
  fprintf(stderr, "server says '%s', parent says connection %lu (old %lu)\n", b.reply, b.conn_id,
          a.conn_id);
  CHECK_OK(b.status);
  snprintf(want, sizeof want, "%lu:hooked", b.conn_id);
  CHECK_EQ_STR(b.reply, want);
  CHECK(b.conn_id != a.conn_id);

  /* The parent's view (what it would KILL) is the session the server shows
   * for worker slot 0 of this pool. */
  CHECK_EQ_INT(dbfork_pool_stats_get(p, NULL, &ws, 1), 1);
  CHECK_EQ_INT(ws.connection_id, b.conn_id);
  CHECK_EQ_INT(
      tu_query_ll(m,
                  "SELECT p.PROCESSLIST_ID FROM performance_schema.session_connect_attrs p "
                  "JOIN performance_schema.session_connect_attrs s USING (PROCESSLIST_ID) "
                  "WHERE p.ATTR_NAME = 'program_name' AND p.ATTR_VALUE = '%s' "
                  "AND s.ATTR_NAME = 'dbfork_slot' AND s.ATTR_VALUE = '0'",
                  o.program_name),
      b.conn_id);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  unlink(cnf);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

/* on_connect fails on the first reconnect only (the worker's second call):
 * the task after that failure must not run on the session on_connect did
 * not set up. */
static int hook_calls;
static int tag_session_fail_second(dbfork_worker *w, void *arg) {
  if (++hook_calls == 2) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "on_connect refused");
  return tag_session(w, arg);
}

TEST(a_session_whose_on_connect_failed_runs_no_task) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  ft_track a, b, c;
  char want[64];

  tu_options(&o);
  o.workers = 1;
  o.task = ft_sql_task;
  o.on_connect = tag_session_fail_second;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT CONNECTION_ID()", &a, 10000);
  CHECK_OK(a.status);

  /* Killed while idle: the next task reconnects, and on_connect fails. */
  tu_exec(m, "KILL CONNECTION %lu", a.conn_id);
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  tu_sleep_ms(1200);
  ft_run_one(p, "SELECT 1", &b, 20000);
  fprintf(stderr, "after the refused on_connect: %s: %s\n", dbfork_err_name(b.status), b.msg);
  CHECK(b.status != 0);

  /* The next task runs at once, on a session on_connect did set up. */
  ft_run_one(p, "SELECT CONCAT(CONNECTION_ID(), ':', IFNULL(@dbfork_tag, 'none'))", &c, 20000);
  CHECK_OK(c.status);
  snprintf(want, sizeof want, "%lu:hooked", c.conn_id);
  CHECK_EQ_STR(c.reply, want);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}
