/*
 * dbfork_pool_stop() or dbfork_pool_close() called while dbfork_pool_start()
 * waits for its workers (a timer on the pool's loop stands in for the SIGINT
 * watcher an application installs): start returns DBFORK_ECLOSED once every
 * worker has gone — through its finalizers unless the grace period ran out —
 * instead of waiting forever for workers the stop made leave; a worker the
 * pool stopped before it was ready is not a start failure, so nothing is
 * logged as an error and join returns 0.
 */
#include "fault.h"

#include <uv.h>

#define WORKERS 2
#define INIT_SLEEP_MS 2000
#define STOP_AT_MS 300
#define START_BOUND_S 15 /* old code: start never returned */

static char fin_table[96];
static int init_sleep_ms = INIT_SLEEP_MS;
static int errors_logged;
static dbfork_pool *pool;
static ft_track task;

static void count_log(int level, const char *msg, void *arg) {
  ft_log(level, msg, arg);
  if (level == DBFORK_LOG_ERROR) errors_logged++;
}

/* Finalizer: records on the worker's own connection that it ran. */
static int fin(dbfork_worker *w, void *arg) {
  char sql[256];
  (void)arg;
  if (!fin_table[0]) return 0;
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (pid) VALUES (%ld)", fin_table, (long)getpid());
  if (mysql_query(dbfork_worker_mysql(w), sql))
    fprintf(stderr, "finalizer of %ld: %s\n", (long)getpid(), mysql_error(dbfork_worker_mysql(w)));
  return 0;
}

/* Slot 1 takes its time: the stop comes while it is still initialising. */
static int slow_init(dbfork_worker *w, void *arg) {
  int rc = dbfork_worker_atexit(w, fin, NULL, 0);
  (void)arg;
  if (dbfork_worker_slot(w) == 1) tu_sleep_ms(init_sleep_ms);
  return rc;
}

static void on_stop_timer(uv_timer_t *t) {
  (void)t;
  CHECK_OK(dbfork_pool_stop(pool));
}

/* Close instead of stop, with a task accepted first: it still runs. */
static void on_close_timer(uv_timer_t *t) {
  (void)t;
  CHECK_OK(dbfork_submit(pool, "SELECT 42", 9, ft_track_cb, &task));
  CHECK_OK(dbfork_pool_close(pool));
}

static void make_fin_table(MYSQL *m) {
  snprintf(fin_table, sizeof fin_table, "f_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", fin_table);
  tu_exec(m, "CREATE TABLE `%s` (pid BIGINT NOT NULL PRIMARY KEY)", fin_table);
}

static void options(dbfork_options *o) {
  tu_options(o);
  o->workers = WORKERS;
  o->init = slow_init;
  o->task = ft_sql_task;
  o->log = count_log;
  o->log_level = DBFORK_LOG_INFO;
}

/* Starts the pool with a one-shot timer calling `cb` at STOP_AT_MS; returns
 * start's code. SIGALRM ends the test if start does not return in time. */
static int start_with_timer(uv_timer_cb cb, long long *took_ms) {
  static uv_timer_t t; /* closed later, by the loop run in dbfork_pool_free */
  long long t0;
  int rc;
  uv_timer_init(dbfork_pool_loop(pool), &t);
  uv_timer_start(&t, cb, STOP_AT_MS, 0);
  t0 = tu_now_ms();
  alarm(START_BOUND_S);
  rc = dbfork_pool_start(pool);
  alarm(0);
  *took_ms = tu_now_ms() - t0;
  fprintf(stderr, "start returned %s after %lld ms\n", dbfork_err_name(rc), *took_ms);
  uv_close((uv_handle_t *)&t, NULL);
  return rc;
}

static void check_stats_after(int workers_started) {
  dbfork_pool_stats st;
  dbfork_worker_stats ws[WORKERS];
  int i;
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, &st, ws, WORKERS), WORKERS);
  CHECK_EQ_INT(st.workers_started, workers_started);
  for (i = 0; i < WORKERS; i++) CHECK_EQ_INT(ws[i].state, DBFORK_WORKER_EMPTY);
}

TEST(stop_during_start_returns_eclosed_after_the_finalizers) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  long long aborted0, took;
  int rc;

  make_fin_table(m);
  aborted0 = tu_status(m, "Aborted_clients");
  options(&o);
  o.term_grace_ms = 10000; /* the slow initializer finishes well within it */
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = start_with_timer(on_stop_timer, &took);
  CHECK_ERR(rc, DBFORK_ECLOSED);
  /* It waited for the slow worker's initializer and finalizers. */
  CHECK(took >= INIT_SLEEP_MS - 100);
  CHECK_EQ_INT(errors_logged, 0);
  check_stats_after(WORKERS);
  CHECK_ERR(dbfork_submit(pool, "SELECT 1", 8, ft_track_cb, &task), DBFORK_ECLOSED);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(errors_logged, 0);

  /* Both workers ran their finalizers and closed their sessions cleanly. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", fin_table), WORKERS);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", fin_table);
}

TEST(close_during_start_runs_accepted_tasks_and_returns_eclosed) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  long long aborted0, took;
  int rc;

  make_fin_table(m);
  aborted0 = tu_status(m, "Aborted_clients");
  options(&o);
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = start_with_timer(on_close_timer, &took);
  CHECK_ERR(rc, DBFORK_ECLOSED);
  CHECK(took >= INIT_SLEEP_MS - 100);
  CHECK_EQ_INT(errors_logged, 0);
  /* The task accepted before the close ran. */
  CHECK_EQ_INT(task.calls, 1);
  CHECK_OK(task.status);
  CHECK_EQ_STR(task.reply, "42");
  check_stats_after(WORKERS);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(errors_logged, 0);

  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", fin_table), WORKERS);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", fin_table);
}

/* The grace period ends before the slow initializer: that worker is
 * SIGKILLed before it was ready. With max_start_failures = 1 a single start
 * failure would fail the pool; a worker the pool stopped is not one. */
TEST(worker_killed_by_stop_before_it_was_ready_is_not_a_start_failure) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  long long took;
  int rc;

  make_fin_table(m);
  init_sleep_ms = 5000;
  options(&o);
  o.term_grace_ms = 300;
  o.max_start_failures = 1;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = start_with_timer(on_stop_timer, &took);
  CHECK_ERR(rc, DBFORK_ECLOSED);
  CHECK(took < init_sleep_ms); /* it did not wait for the initializer */
  CHECK_EQ_INT(errors_logged, 0);
  CHECK_EQ_STR(dbfork_pool_last_error(pool), "");
  check_stats_after(WORKERS);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(errors_logged, 0);
  /* The ready worker ran its finalizer; the killed one could not. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", fin_table), 1);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  tu_exec(m, "DROP TABLE `%s`", fin_table);
}

/* The workers are still retrying their connect (no server behind the
 * socket) when the stop comes: they give up at once, and that is not a
 * start failure either (old code: an ERROR per worker, DBFORK_EINIT). */
TEST(stop_while_workers_retry_their_connect_is_not_a_start_failure) {
  dbfork_options o;
  char sock[128];
  long long took;
  int rc;

  options(&o);
  snprintf(sock, sizeof sock, "/tmp/dbfork-no-server-%ld.sock", (long)getpid());
  o.unix_socket = sock;
  o.connect_timeout = 30;
  o.max_start_failures = WORKERS;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = start_with_timer(on_stop_timer, &took);
  CHECK_ERR(rc, DBFORK_ECLOSED);
  CHECK(took < 10000);
  CHECK_EQ_INT(errors_logged, 0);
  check_stats_after(WORKERS);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(errors_logged, 0);
}

/* A pool closed before start forks nothing. */
TEST(start_after_close_returns_eclosed_and_forks_nothing) {
  dbfork_options o;
  options(&o);
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_close(pool));
  CHECK_ERR(dbfork_pool_start(pool), DBFORK_ECLOSED);
  check_stats_after(0);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(errors_logged, 0);
}
