/*
 * dbfork_submit: every accepted task gets exactly one completion; a refused
 * submission (closed pool, full nonblocking queue, oversize payload) never
 * calls its callback and never reaches the server; a failed task's
 * completion carries the server's errno, SQLSTATE and message.
 */
#include "itest.h"

#include <pthread.h>

static void make_table(MYSQL *mon, const char *table) {
  tu_exec(mon, "DROP TABLE IF EXISTS %s", table);
  tu_exec(mon, "CREATE TABLE %s (i INT PRIMARY KEY, pad VARCHAR(2048) NOT NULL DEFAULT '')", table);
}

static dbfork_pool *start_pool(dbfork_options *o) {
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, o));
  CHECK_OK(dbfork_pool_start(pool));
  return pool;
}

static int submit_insert(dbfork_pool *p, const char *table, int i, it_track *t) {
  char sql[128];
  snprintf(sql, sizeof sql, "INSERT INTO %s (i) VALUES (%d)", table, i);
  return it_submit_sql(p, sql, t);
}

TEST(submit_each_callback_once) {
  MYSQL *mon = tu_connect();
  make_table(mon, "t_submit_once");
  dbfork_options o;
  it_options(&o, "dbf_submit_once", 2);
  o.queue_max = 64; /* well below N: submit has to wait for room */
  dbfork_pool *pool = start_pool(&o);
  enum { N = 3000 };
  it_track *t = calloc(N, sizeof *t);
  CHECK(t != NULL);
  for (int i = 0; i < N; i++) CHECK_OK(submit_insert(pool, "t_submit_once", i, &t[i]));
  CHECK_OK(dbfork_pool_join(pool));
  for (int i = 0; i < N; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
  }
  dbfork_pool_free(pool);
  /* Each task ran exactly once on the server. */
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_once"), N);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT SUM(i) FROM t_submit_once"), (long long)N * (N - 1) / 2);
  free(t);
  mysql_close(mon);
}

TEST(submit_after_close_returns_eclosed) {
  MYSQL *mon = tu_connect();
  make_table(mon, "t_submit_closed");
  dbfork_options o;
  it_options(&o, "dbf_submit_closed", 2);
  dbfork_pool *pool = start_pool(&o);
  it_track before, after;
  memset(&before, 0, sizeof before);
  memset(&after, 0, sizeof after);
  CHECK_OK(submit_insert(pool, "t_submit_closed", 1, &before));
  CHECK_OK(dbfork_pool_close(pool));
  CHECK_ERR(submit_insert(pool, "t_submit_closed", 2, &after), DBFORK_ECLOSED);
  CHECK_OK(dbfork_pool_join(pool));
  CHECK_ERR(dbfork_submit(pool, "SELECT 1", 8, it_track_cb, &after), DBFORK_ECLOSED);
  dbfork_pool_free(pool);
  CHECK_EQ_INT(before.calls, 1);
  CHECK_EQ_INT(before.status, 0);
  CHECK_EQ_INT(after.calls, 0);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_closed"), 1);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_closed WHERE i=2"), 0);
  mysql_close(mon);
}

/* dbfork_pool_close() from a thread other than the loop thread (say a
 * producer thread done submitting) only marks the pool closed and wakes the
 * loop: the drain — telling the workers to stop — is done by the loop thread
 * when it runs the loop, never on the caller's thread, which would race the
 * loop thread on the workers' pipes. */
static void *close_pool(void *arg) {
  CHECK_OK(dbfork_pool_close(arg));
  return NULL;
}

TEST(close_from_another_thread_drains_on_the_loop_thread) {
  MYSQL *mon = tu_connect();
  dbfork_options o;
  it_options(&o, "dbf_submit_close_thread", 2);
  dbfork_pool *pool = start_pool(&o);
  dbfork_worker_stats ws[2];
  it_track t[5];
  long pids[2];
  pthread_t th;
  memset(t, 0, sizeof t);
  for (int i = 0; i < 5; i++) CHECK_OK(it_submit_sql(pool, "SELECT 7", &t[i]));
  for (int i = 0; i < 5; i++)
    while (t[i].calls == 0) dbfork_pool_run(pool, 1);
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, 2), 2);
  pids[0] = ws[0].pid;
  pids[1] = ws[1].pid;

  CHECK(pthread_create(&th, NULL, close_pool, pool) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_ERR(it_submit_sql(pool, "SELECT 1", &t[0]), DBFORK_ECLOSED);
  /* Nobody runs the loop: nothing was sent, the workers wait. */
  tu_sleep_ms(500);
  CHECK_EQ_INT(tu_pids_alive(pids, 2), 2);
  CHECK_OK(dbfork_pool_join(pool));
  CHECK_EQ_INT(tu_pids_alive(pids, 2), 0);
  dbfork_pool_free(pool);
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
    CHECK_EQ_STR(t[i].reply, "7");
  }
  CHECK_EQ_INT(tu_wait_sessions(mon, o.program_name, 0, 5000), 0);
  mysql_close(mon);
}

TEST(submit_nonblocking_full_queue_returns_eagain) {
  MYSQL *mon = tu_connect();
  make_table(mon, "t_submit_eagain");
  enum { QMAX = 4, PREFETCH = 2, WORKERS = 1, TRIES = 1000 };
  dbfork_options o;
  it_options(&o, "dbf_submit_eagain", WORKERS);
  o.submit_nonblocking = 1;
  o.queue_max = QMAX;
  o.prefetch = PREFETCH;
  dbfork_pool *pool = start_pool(&o);
  it_track *t = calloc(TRIES, sizeof *t);
  CHECK(t != NULL);
  /* The loop does not run between these calls, so nothing completes: the
   * queue fills and a submission is refused. */
  int accepted = 0, rc = 0;
  for (; accepted < TRIES; accepted++) {
    rc = submit_insert(pool, "t_submit_eagain", accepted, &t[accepted]);
    if (rc != 0) break;
  }
  fprintf(stderr, "accepted %d, then %s\n", accepted, dbfork_err_name(rc));
  CHECK_ERR(rc, DBFORK_EAGAIN);
  /* Bounded by the queue plus the workers' prefetch windows. */
  CHECK(accepted >= QMAX);
  CHECK(accepted <= QMAX + WORKERS * PREFETCH);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  for (int i = 0; i < accepted; i++) {
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
  }
  CHECK_EQ_INT(t[accepted].calls, 0);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_eagain"), accepted);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_eagain WHERE i=%d", accepted), 0);
  free(t);
  mysql_close(mon);
}

/* An INSERT statement padded to exactly `len` bytes. */
static char *insert_of_len(const char *table, int i, size_t len) {
  char head[128];
  int h = snprintf(head, sizeof head, "INSERT INTO %s (i, pad) VALUES (%d, '", table, i);
  CHECK((size_t)h + 2 < len);
  char *s = malloc(len + 1);
  CHECK(s != NULL);
  memcpy(s, head, (size_t)h);
  memset(s + h, 'x', len - (size_t)h - 2);
  memcpy(s + len - 2, "')", 2);
  s[len] = '\0';
  return s;
}

TEST(submit_oversize_payload_returns_etoobig) {
  MYSQL *mon = tu_connect();
  make_table(mon, "t_submit_toobig");
  enum { MAXP = 1024 };
  dbfork_options o;
  it_options(&o, "dbf_submit_toobig", 1);
  o.max_payload = MAXP;
  dbfork_pool *pool = start_pool(&o);
  char *fits = insert_of_len("t_submit_toobig", 1, MAXP);
  char *over = insert_of_len("t_submit_toobig", 2, MAXP + 1);
  it_track t1, t2;
  memset(&t1, 0, sizeof t1);
  memset(&t2, 0, sizeof t2);
  CHECK_ERR(dbfork_submit(pool, over, MAXP + 1, it_track_cb, &t2), DBFORK_ETOOBIG);
  CHECK_OK(dbfork_submit(pool, fits, MAXP, it_track_cb, &t1));
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  if (t1.status != 0) it_track_print("payload of max_payload bytes", &t1);
  CHECK_EQ_INT(t1.calls, 1);
  CHECK_EQ_INT(t1.status, 0);
  CHECK_EQ_INT(t2.calls, 0);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_toobig WHERE i=1"), 1);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_submit_toobig WHERE i=2"), 0);
  free(fits);
  free(over);
  mysql_close(mon);
}

TEST(failed_task_carries_mysql_error) {
  dbfork_options o;
  it_options(&o, "dbf_submit_fail", 1);
  dbfork_pool *pool = start_pool(&o);
  it_track t;
  memset(&t, 0, sizeof t);
  CHECK_OK(it_submit_sql(pool, "SELECT * FROM no_such_table_dbf_submit", &t));
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  it_track_print("failed task", &t);
  CHECK_EQ_INT(t.calls, 1);
  CHECK_ERR(t.status, DBFORK_ESQL);
  CHECK_EQ_INT(t.mysql_errno, 1146);
  CHECK_EQ_STR(t.sqlstate, "42S02");
  CHECK(strstr(t.msg, "no_such_table_dbf_submit") != NULL);
  /* Not a retryable error: tried once. */
  CHECK_EQ_INT(t.attempts, 1);
}
