/*
 * Shutdown under load: dbfork_pool_terminate() while tasks run and many more
 * wait. Every accepted task gets exactly one completion, ok or
 * DBFORK_ECANCELED; a cancelled task left nothing in the database, an ok one
 * left all of its rows; every worker ran its finalizers (each inserts a row
 * on its own connection) and closed its session cleanly. A worker stuck past
 * term_grace_ms is SIGKILLed and its session KILLed.
 */
#include "fault.h"

#define WORKERS 3
#define TASKS 400
#define ROWS_PER_TASK 10

static char table[96], fin_table[96];

/* The finalizer: records, on the worker's own connection, that it ran. */
static int fin(dbfork_worker *w, void *arg) {
  char sql[256];
  (void)arg;
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (pid, conn) VALUES (%ld, %lu)", fin_table,
           (long)getpid(), dbfork_worker_connection_id(w));
  if (mysql_query(dbfork_worker_mysql(w), sql))
    fprintf(stderr, "finalizer of %ld: %s\n", (long)getpid(), mysql_error(dbfork_worker_mysql(w)));
  return 0;
}

static int init(dbfork_worker *w, void *arg) {
  (void)arg;
  return dbfork_worker_atexit(w, fin, NULL, 0);
}

typedef struct track {
  int calls, status;
  char msg[160];
} track;
static track tr[TASKS];
static ft_range ranges[TASKS];
static int ncalls;

static void done(const dbfork_result *r, void *ud) {
  track *t = ud;
  t->calls++;
  t->status = r->status;
  snprintf(t->msg, sizeof t->msg, "%s", r->message);
  ncalls++;
}

static void make_tables(MYSQL *m) {
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  snprintf(fin_table, sizeof fin_table, "f_%s", tu_unique_name());
  ft_create_rows_table(m, table);
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", fin_table);
  tu_exec(m, "CREATE TABLE `%s` (pid BIGINT NOT NULL PRIMARY KEY, conn BIGINT NOT NULL)",
          fin_table);
}

TEST(terminate_under_load_completes_every_task_once_and_runs_finalizers) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  dbfork_worker_stats ws[WORKERS];
  long long aborted0, t0;
  int i, ok = 0, cancelled = 0;

  make_tables(m);
  aborted0 = tu_status(m, "Aborted_clients");

  tu_options(&o);
  o.workers = WORKERS;
  o.init = init;
  o.task = ft_range_task;
  o.task_arg = table;
  o.transaction = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  for (i = 0; i < TASKS; i++) {
    ranges[i].task = i;
    ranges[i].first = i * ROWS_PER_TASK + 1;
    ranges[i].count = ROWS_PER_TASK;
    ranges[i].sleep_ms = 20;
    CHECK_OK(dbfork_submit(p, &ranges[i], sizeof ranges[i], done, &tr[i]));
  }
  /* Let a few finish, so that some run, some wait in the workers' prefetch
   * windows and most wait in the parent's queue. */
  while (ncalls < 30) dbfork_pool_run(p, 1);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, ws, WORKERS), WORKERS);
  CHECK(st.in_flight > 0);
  CHECK(st.queued > 0);
  t0 = tu_now_ms();
  CHECK_OK(dbfork_pool_terminate(p));
  fprintf(stderr, "terminate took %lld ms\n", tu_now_ms() - t0);
  /* The workers finished their statements and left well within the grace. */
  CHECK(tu_now_ms() - t0 < 1900);
  CHECK_EQ_INT(ncalls, TASKS);
  CHECK_ERR(dbfork_submit(p, &ranges[0], sizeof ranges[0], done, &tr[0]), DBFORK_ECLOSED);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), WORKERS);
  dbfork_pool_free(p);

  for (i = 0; i < TASKS; i++) {
    long long rows = ft_range_rows(m, table, &ranges[i]);
    CHECK_EQ_INT(tr[i].calls, 1);
    if (tr[i].status == 0) {
      ok++;
      CHECK_EQ_INT(rows, ROWS_PER_TASK);
    } else if (tr[i].status == DBFORK_ECANCELED) {
      cancelled++;
      if (rows != 0)
        FAIL("task %d completed DBFORK_ECANCELED but its %lld rows are there", i, rows);
    } else {
      FAIL("task %d: %s: %s", i, dbfork_err_name(tr[i].status), tr[i].msg);
    }
  }
  fprintf(stderr, "ok %d, cancelled %d\n", ok, cancelled);
  CHECK(ok >= 30);
  CHECK(cancelled >= 1);
  CHECK_EQ_INT(st.submitted, TASKS);
  CHECK_EQ_INT(st.completed_ok, ok);
  CHECK_EQ_INT(st.cancelled, cancelled);
  CHECK_EQ_INT(st.completed_failed, 0);
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), (long long)ok * ROWS_PER_TASK);

  /* Every worker process ran its finalizer, on its own connection. */
  CHECK_EQ_INT(st.workers_started, WORKERS);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", fin_table), WORKERS);
  for (i = 0; i < WORKERS; i++) {
    CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE pid = %ld AND conn = %lu",
                             fin_table, ws[i].pid, ws[i].connection_id),
                 1);
  }
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
  tu_exec(m, "DROP TABLE `%s`", fin_table);
}

TEST(terminate_sigkills_a_worker_stuck_past_the_grace_period) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  dbfork_worker_stats ws[2];
  ft_track stuck, quick;
  long long t0, took;
  int i, stuck_slot;

  make_tables(m);
  tu_options(&o);
  o.workers = 2;
  o.init = init;
  o.task = ft_sql_task;
  o.term_grace_ms = 500;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  ft_run_one(p, "SELECT 1", &quick, 10000);
  memset(&stuck, 0, sizeof stuck);
  /* Deaf to SIGTERM: a C sleep that does not look at dbfork_worker_stopping(). */
  CHECK_OK(dbfork_submit(p, "csleep:20000", 12, ft_track_cb, &stuck));
  dbfork_pool_run(p, 2);
  tu_sleep_ms(200);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, ws, 2), 2);
  CHECK_EQ_INT(st.in_flight, 1);
  stuck_slot = ws[0].state == DBFORK_WORKER_BUSY ? 0 : 1;
  CHECK_EQ_INT(ws[stuck_slot].state, DBFORK_WORKER_BUSY);

  t0 = tu_now_ms();
  CHECK_OK(dbfork_pool_terminate(p));
  took = tu_now_ms() - t0;
  fprintf(stderr, "terminate took %lld ms; stuck task: %s: %s\n", took,
          dbfork_err_name(stuck.status), stuck.msg);
  CHECK(took >= 450);
  CHECK(took < 2500);
  CHECK_EQ_INT(stuck.calls, 1);
  CHECK_ERR(stuck.status, DBFORK_ECANCELED);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), 2);
  CHECK_EQ_INT(st.workers_lost, 1);
  CHECK_EQ_INT(st.sessions_killed, 1);
  CHECK_EQ_INT(st.cancelled, 1);
  dbfork_pool_free(p);

  /* The stuck worker is gone and so is its session; the idle one ran its
   * finalizer, the SIGKILLed one could not. */
  CHECK(!ft_is_live_child(ws[stuck_slot].pid));
  CHECK_EQ_INT(ft_wait_conn_gone(m, ws[stuck_slot].connection_id, 2000), 0);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", fin_table), 1);
  for (i = 0; i < 2; i++)
    CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE pid = %ld", fin_table, ws[i].pid),
                 i == stuck_slot ? 0 : 1);
  tu_exec(m, "DROP TABLE `%s`", table);
  tu_exec(m, "DROP TABLE `%s`", fin_table);
}
