/*
 * parallel_insert.c — a parallel insert job with a per-worker finalizer.
 *
 *   parallel_insert [OPTION_FILE]
 *
 * Connection settings come from OPTION_FILE (as mysql --defaults-file), or
 * from the usual option files ([client] and [dbfork] groups) without one.
 *
 * Each worker buffers the rows of its tasks and writes them in multi-row
 * INSERTs of 500. The last partial buffer is written by a finalizer
 * registered in the worker's initializer: it runs on every exit path the
 * worker survives (drain, recycle, SIGTERM, parent death), while the worker's
 * connection is still open. Without it, up to 499 rows per worker would be
 * lost at the end of the job. The parent checks the server's count.
 */
#include <dbfork.h>
#include <mysql.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 20000, ROWS_PER_TASK = 100, FLUSH_AT = 500 };

/* Worker-side state: one per worker process (each has its own copy). */
static struct {
  char sql[64 + FLUSH_AT * 24];
  size_t len;
  int rows;
} buf;

static int flush(MYSQL *m) {
  if (!buf.rows) return 0;
  if (mysql_real_query(m, buf.sql, (unsigned long)buf.len)) return -1;
  buf.rows = 0;
  return 0;
}

static int add_row(MYSQL *m, uint32_t id) {
  if (!buf.rows) buf.len = (size_t)sprintf(buf.sql, "INSERT INTO example_rows (id) VALUES ");
  buf.len += (size_t)sprintf(buf.sql + buf.len, "%s(%u)", buf.rows ? "," : "", id);
  return ++buf.rows == FLUSH_AT ? flush(m) : 0;
}

/* The finalizer: write what is left. The connection is still open here; the
 * library closes it after the last finalizer. A failure (DBFORK_ESQL: the
 * connection's error) reaches the parent's log. */
static int flush_at_exit(dbfork_worker *w, void *arg) {
  (void)arg;
  return flush(dbfork_worker_mysql(w)) ? DBFORK_ESQL : 0;
}

static int init(dbfork_worker *w, void *arg) {
  (void)arg;
  return dbfork_worker_atexit(w, flush_at_exit, NULL, 0);
}

/* A task: a 4-byte first id; inserts ROWS_PER_TASK ids from it. */
static int task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  uint32_t first;
  (void)arg;
  if (len != sizeof first) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad payload");
  memcpy(&first, in, sizeof first);
  for (uint32_t i = 0; i < ROWS_PER_TASK; i++)
    if (add_row(dbfork_worker_mysql(w), first + i)) return DBFORK_ESQL;
  return 0;
}

static int failed;
static void done(const dbfork_result *r, void *ud) {
  (void)ud;
  if (r->status) {
    fprintf(stderr, "task failed: %s: %s\n", dbfork_err_name(r->status), r->message);
    failed++;
  }
}

int main(int argc, char **argv) {
  const char *cnf = argc > 1 ? argv[1] : NULL;
  dbfork_options o;
  dbfork_pool *pool = NULL;
  MYSQL *m = mysql_init(NULL);
  MYSQL_RES *res;
  long long count = -1;
  int rc;

  /* The parent's own connection: set up the table, check the result. */
  if (cnf) mysql_options(m, MYSQL_READ_DEFAULT_FILE, cnf);
  mysql_options(m, MYSQL_READ_DEFAULT_GROUP, "dbfork");
  if (!mysql_real_connect(m, NULL, NULL, NULL, NULL, 0, NULL, 0) ||
      mysql_query(m, "DROP TABLE IF EXISTS example_rows") ||
      mysql_query(m, "CREATE TABLE example_rows (id INT UNSIGNED PRIMARY KEY)")) {
    fprintf(stderr, "setup: %s\n", mysql_error(m));
    return 1;
  }

  dbfork_options_init(&o);
  o.workers = 4;
  o.defaults_file = cnf;
  o.init = init;
  o.task = task;
  rc = dbfork_pool_new(&pool, &o);
  if (!rc) rc = dbfork_pool_start(pool);
  if (rc) {
    fprintf(stderr, "pool: %s: %s\n", dbfork_strerror(rc),
            pool ? dbfork_pool_last_error(pool) : "");
    dbfork_pool_free(pool);
    return 1;
  }
  for (uint32_t first = 1; first <= ROWS; first += ROWS_PER_TASK) {
    /* Blocking submit: waits for room when the queue is full. */
    rc = dbfork_submit(pool, &first, sizeof first, done, NULL);
    if (rc) {
      fprintf(stderr, "submit: %s\n", dbfork_strerror(rc));
      break;
    }
  }
  /* join: drain the queue, then every worker runs flush_at_exit and exits. */
  if (!rc) rc = dbfork_pool_join(pool);
  dbfork_pool_free(pool);

  if (!mysql_query(m, "SELECT COUNT(*) FROM example_rows") && (res = mysql_store_result(m))) {
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row && row[0]) count = atoll(row[0]);
    mysql_free_result(res);
  }
  mysql_query(m, "DROP TABLE example_rows");
  mysql_close(m);
  printf("parallel_insert: %lld rows on the server (expected %d), %d tasks failed\n", count, ROWS,
         failed);
  return rc || failed || count != ROWS;
}
