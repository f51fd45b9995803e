/*
 * The seed's bug cannot happen: a MYSQL* the parent opened before the pool
 * started is inherited by every worker, and nothing a worker does with it may
 * touch the parent's session — not the pool's own start/stop, not task code
 * that mysql_close()s it (COM_QUIT on the shared socket would end the
 * parent's session), not task code that queries it (the parent would read the
 * worker's rows).
 */
#include "itest.h"

/* What the parent expects of its handle `p`: same session (CONNECTION_ID()
 * and a session variable unchanged), still in the server's PROCESSLIST, and
 * answering with its own rows. */
static void check_parent_session(MYSQL *p, MYSQL *mon, long long id0, const char *when) {
  if (mysql_query(p, "SELECT CONNECTION_ID(), @dbf_marker, 'parent'") != 0) {
    fprintf(stderr, "%s: parent query failed: %u (%s) %s\n", when, mysql_errno(p),
            mysql_sqlstate(p), mysql_error(p));
    CHECK(0);
  }
  MYSQL_RES *res = mysql_store_result(p);
  CHECK(res != NULL);
  CHECK_EQ_INT(mysql_num_rows(res), 1);
  MYSQL_ROW row = mysql_fetch_row(res);
  fprintf(stderr, "%s: parent sees id=%s marker=%s row=%s (id before the pool: %lld)\n", when,
          row[0], row[1] ? row[1] : "NULL", row[2], id0);
  CHECK_EQ_INT(atoll(row[0]), id0);
  CHECK(row[1] != NULL);
  CHECK_EQ_STR(row[1], "4242");
  CHECK_EQ_STR(row[2], "parent");
  mysql_free_result(res);
  CHECK_EQ_INT(
      tu_query_ll(mon, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID=%lld", id0),
      1);
}

static MYSQL *open_parent(long long *id0) {
  MYSQL *p = tu_connect();
  *id0 = tu_query_ll(p, "SELECT CONNECTION_ID()");
  tu_exec(p, "SET @dbf_marker = 4242");
  return p;
}

TEST(parent_connection_survives_pool) {
  long long id0;
  MYSQL *mon = tu_connect();
  MYSQL *p = open_parent(&id0);

  dbfork_options o;
  it_options(&o, "dbf_pc_survives", 2);
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  enum { N = 40 };
  it_track t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) CHECK_OK(it_submit_sql(pool, "SELECT CONNECTION_ID()", &t[i]));
  CHECK_OK(dbfork_pool_join(pool));
  for (int i = 0; i < N; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
    /* The workers ran on sessions of their own. */
    CHECK(atoll(t[i].reply) != id0);
  }
  dbfork_pool_free(pool);

  check_parent_session(p, mon, id0, "after the pool");
  mysql_close(p);
  mysql_close(mon);
}

/* The task functions below get the parent's handle through task_arg. */
static int closed_here; /* per worker process: mysql_close() frees the handle */

static int close_inherited_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)in;
  (void)len;
  if (!closed_here) {
    closed_here = 1;
    mysql_close((MYSQL *)arg); /* what careless task code does */
  }
  return dbfork_worker_reply(w, "closed", 6);
}

TEST(parent_connection_survives_worker_mysql_close) {
  TU_NEEDS_PARENT_MEMORY("the task gets the parent's MYSQL handle, a heap object");
  long long id0;
  MYSQL *mon = tu_connect();
  MYSQL *p = open_parent(&id0);

  dbfork_options o;
  it_options(&o, "dbf_pc_close", 2);
  o.task = close_inherited_task;
  o.task_arg = p;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  enum { N = 16 };
  it_track t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) CHECK_OK(dbfork_submit(pool, "x", 1, it_track_cb, &t[i]));
  /* Wait for the completions (and so for the mysql_close() calls) while the
   * pool still runs. */
  long long end = tu_now_ms() + 10000;
  int done;
  do {
    dbfork_pool_run(pool, 1);
    done = 0;
    for (int i = 0; i < N; i++) done += t[i].calls;
  } while (done < N && tu_now_ms() < end);
  for (int i = 0; i < N; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("close task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
    CHECK_EQ_STR(t[i].reply, "closed");
  }
  check_parent_session(p, mon, id0, "after workers closed the inherited handle");

  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  check_parent_session(p, mon, id0, "after the pool");
  mysql_close(p);
  mysql_close(mon);
}

/* Queries the inherited handle: must fail cleanly (a "lost connection"
 * error), reported through the task's result; if it ever succeeds, the row is
 * sent back as the reply so the test can show it. */
static int query_inherited_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *inh = arg;
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT 'worker-%.*s'", (int)len, (const char *)in);
  if (mysql_query(inh, sql) != 0)
    return dbfork_worker_fail(w, DBFORK_ETASK, mysql_errno(inh), mysql_sqlstate(inh), "%s",
                              mysql_error(inh));
  MYSQL_RES *res = mysql_store_result(inh);
  if (res == NULL)
    return dbfork_worker_fail(w, DBFORK_ETASK, mysql_errno(inh), mysql_sqlstate(inh), "%s",
                              mysql_error(inh));
  MYSQL_ROW row = mysql_fetch_row(res);
  if (row != NULL && row[0] != NULL) dbfork_worker_reply(w, row[0], strlen(row[0]));
  mysql_free_result(res);
  return 0;
}

typedef struct rows_ctx {
  MYSQL *p;
  size_t next;
  int bad;
} rows_ctx;

static char payload_buf[32];

static int rows_input(size_t i, const void **data, size_t *len, void *ud) {
  (void)ud;
  *len = (size_t)snprintf(payload_buf, sizeof payload_buf, "%zu", i);
  *data = payload_buf;
  return 0;
}

/* After each worker attempt, the parent queries its own handle and must read
 * exactly its own row. */
static int rows_output(size_t i, const dbfork_result *r, void *ud) {
  rows_ctx *c = ud;
  it_track t;
  memset(&t, 0, sizeof t);
  it_track_copy(&t, r);
  if (i != c->next) {
    fprintf(stderr, "output %zu out of order (expected %zu)\n", i, c->next);
    c->bad++;
  }
  c->next = i + 1;
  /* A clean error: the worker's use of the inherited handle failed with a
   * lost-connection error and never reached the parent's session. */
  if (r->status != DBFORK_ETASK ||
      (r->mysql_errno != 2006 && r->mysql_errno != 2013 && r->mysql_errno != 2055)) {
    it_track_print("worker query on the inherited handle", &t);
    c->bad++;
  }
  char sql[96], want[32];
  snprintf(want, sizeof want, "parent-%zu", i);
  snprintf(sql, sizeof sql, "SELECT '%s'", want);
  if (mysql_query(c->p, sql) != 0) {
    fprintf(stderr, "parent query %zu failed: %u %s\n", i, mysql_errno(c->p), mysql_error(c->p));
    c->bad++;
    return 1;
  }
  MYSQL_RES *res = mysql_store_result(c->p);
  MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
  if (row == NULL || row[0] == NULL || strcmp(row[0], want) != 0) {
    fprintf(stderr, "parent asked for '%s' and read '%s'\n", want,
            row && row[0] ? row[0] : "(nothing)");
    c->bad++;
  }
  if (res) mysql_free_result(res);
  return 0;
}

TEST(parent_connection_never_receives_worker_rows) {
  TU_NEEDS_PARENT_MEMORY("the task gets the parent's MYSQL handle, a heap object");
  long long id0;
  MYSQL *mon = tu_connect();
  MYSQL *p = open_parent(&id0);

  dbfork_options o;
  it_options(&o, "dbf_pc_rows", 2);
  o.task = query_inherited_task;
  o.task_arg = p;
  o.retries_off = 1;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  rows_ctx c = {p, 0, 0};
  CHECK_OK(dbfork_map(pool, 20, rows_input, rows_output, &c));
  CHECK_EQ_INT(c.next, 20);
  CHECK_EQ_INT(c.bad, 0);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);

  check_parent_session(p, mon, id0, "after the pool");
  /* Nothing left unread on the parent's socket either: the next two answers
   * are the parent's own. */
  char *s = tu_query_str(p, "SELECT 'parent'");
  CHECK_EQ_STR(s, "parent");
  free(s);
  s = tu_query_str(p, "SELECT 'parent-again'");
  CHECK_EQ_STR(s, "parent-again");
  free(s);
  mysql_close(p);
  mysql_close(mon);
}
