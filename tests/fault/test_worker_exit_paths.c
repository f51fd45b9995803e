/*
 * Fault: finalizers on the exit paths where the worker's connection is in
 * trouble, or where its start fails.
 *
 * - A failed task closed the session (its ROLLBACK could not run) and no
 *   task came after to replace it: the finalizers still get a working
 *   connection (a new session, on_connect run on it), and nothing is
 *   aborted on the way.
 * - If no new session can be had (the server cannot be reached), the
 *   finalizers get a handle on which calls fail with an error, not NULL,
 *   and the worker still exits cleanly.
 * - on_connect fails while the worker starts: the finalizers it registered
 *   run, as they do when init fails, and the pool reports the start failure
 *   with on_connect's error.
 */
#include "fault.h"

#include <fcntl.h>

static char table[96];

/* on_connect: session state the finalizer can see. */
static int tag_session(dbfork_worker *w, void *arg) {
  (void)arg;
  return mysql_query(dbfork_worker_mysql(w), "SET @dbfork_tag = 'hooked'") ? DBFORK_ESQL : 0;
}

/* The finalizer: one row through the worker's own connection. */
static int write_row(dbfork_worker *w, void *arg) {
  char sql[256];
  (void)arg;
  snprintf(sql, sizeof sql,
           "INSERT INTO `%s` VALUES (CONNECTION_ID(), IFNULL(@dbfork_tag, 'none'), 'finalizer')",
           table);
  (void)mysql_query(dbfork_worker_mysql(w), sql);
  return 0;
}

static int register_write_row(dbfork_worker *w, void *arg) {
  (void)arg;
  return dbfork_worker_atexit(w, write_row, NULL, 0);
}

/* Leaves a result unread ("commands out of sync"), then fails: the pool's
 * ROLLBACK cannot run on that session, so the worker closes it. */
static int unread_then_fail_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)in;
  (void)len;
  (void)arg;
  if (mysql_query(dbfork_worker_mysql(w), "SELECT 1 UNION ALL SELECT 2")) return DBFORK_ESQL;
  return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad input");
}

static void create_table(MYSQL *m) {
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m,
          "CREATE TABLE `%s` (conn_id BIGINT UNSIGNED NOT NULL, tag VARCHAR(16) NOT NULL, "
          "what VARCHAR(16) NOT NULL) ENGINE=InnoDB",
          table);
}

TEST(finalizers_get_a_new_session_after_a_failed_rollback_closed_the_last) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  ft_track a;
  long long aborted0 = tu_status(m, "Aborted_clients");

  create_table(m);
  tu_options(&o);
  o.workers = 1;
  o.transaction = 1;
  o.task = unread_then_fail_task;
  o.init = register_write_row;
  o.on_connect = tag_session;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "x", &a, 10000);
  CHECK_ERR(a.status, DBFORK_ETASK);
  CHECK_EQ_STR(a.msg, "bad input");
  /* The failed task's session is gone; the worker is idle without one. */
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  CHECK_OK(dbfork_pool_join(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  dbfork_pool_free(p);

  /* The finalizer ran, on a new session that on_connect had prepared, and
   * the worker exited cleanly (said goodbye, closed that session). */
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE what = 'finalizer'", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE tag = 'hooked'", table), 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE conn_id = %lu", table, a.conn_id),
               0);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}

/* What the finalizer saw, written to a pipe the test reads. */
static int seen[2];

static int try_query(dbfork_worker *w, void *arg) {
  MYSQL *h = dbfork_worker_mysql(w);
  char line[128];
  int n;
  if (!h)
    n = snprintf(line, sizeof line, "null handle\n");
  else if (mysql_query(h, "SELECT 1") == 0)
    n = snprintf(line, sizeof line, "query ok\n");
  else
    n = snprintf(line, sizeof line, "error %u\n", mysql_errno(h));
  (void)arg;
  if (write(seen[1], line, (size_t)n) != n) _exit(9);
  return 0;
}

static int register_try_query(dbfork_worker *w, void *arg) {
  (void)arg;
  return dbfork_worker_atexit(w, try_query, NULL, 0);
}

TEST(finalizers_get_a_handle_that_fails_cleanly_when_no_session_can_be_had) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  ft_track a;
  char link[128], got[128] = {0};
  const char *sock = getenv("DBFORK_TEST_SOCKET");
  ssize_t n;

  TU_NEEDS_FORK_INHERITANCE("the finalizer writes what it saw to a pipe it inherits");

  /* The workers reach the server through a symlink to its socket; removing
   * the link makes every new connection fail, and nothing else. */
  CHECK(sock != NULL);
  snprintf(link, sizeof link, "/tmp/%s-%ld.sock", tu_unique_name(), (long)getpid());
  unlink(link);
  CHECK_OK(symlink(sock, link));
  CHECK_OK(pipe(seen));
  tu_options(&o);
  o.unix_socket = link;
  o.workers = 1;
  o.transaction = 1;
  o.task = unread_then_fail_task;
  o.init = register_try_query;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "x", &a, 10000);
  CHECK_ERR(a.status, DBFORK_ETASK);
  CHECK_EQ_INT(ft_wait_conn_gone(m, a.conn_id, 5000), 0);
  CHECK_OK(unlink(link));
  CHECK_OK(dbfork_pool_join(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  dbfork_pool_free(p);

  close(seen[1]);
  n = read(seen[0], got, sizeof got - 1);
  fprintf(stderr, "the finalizer saw: %s", n > 0 ? got : "nothing\n");
  /* The finalizer ran, its call failed with a client error (2006 server
   * gone away, or similar), and the worker still said goodbye. */
  CHECK(n > 0);
  CHECK(!strncmp(got, "error 20", 8));
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

/* on_connect registers a finalizer, then refuses the session. */
static int register_then_refuse(dbfork_worker *w, void *arg) {
  int rc = register_write_row(w, arg);
  if (rc) return rc;
  return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "on_connect says no");
}

TEST(on_connect_failure_at_start_runs_the_finalizers) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  long long aborted0 = tu_status(m, "Aborted_clients");
  const char *err;
  int rc;

  create_table(m);
  tu_options(&o);
  o.workers = 1;
  o.max_start_failures = 1;
  o.task = ft_sql_task;
  o.on_connect = register_then_refuse;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  rc = dbfork_pool_start(p);
  err = dbfork_pool_last_error(p);
  fprintf(stderr, "start: %s: %s\n", dbfork_err_name(rc), err);
  CHECK_ERR(rc, DBFORK_EINIT);
  CHECK(strstr(err, "on_connect says no") != NULL);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 1);
  dbfork_pool_free(p);

  /* Every worker that started ran its finalizer before it went, on the
   * session on_connect had been given. */
  CHECK(st.workers_started >= 1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE what = 'finalizer'", table),
               (long long)st.workers_started);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}
