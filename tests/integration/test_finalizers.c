/*
 * Finalizers run at exit highest priority first, then last-registered first,
 * and all of them before the built-in mysql_close(): each writes a row through
 * the worker's own connection, and the rows are there after join.
 */
#include "itest.h"

typedef struct fin {
  const char *name;
  int priority;
} fin;

/* Registration order; expected run order: D B E C A Z. */
static const fin fins[] = {{"Z", -1000000}, {"A", 0}, {"B", 10}, {"C", 0}, {"D", 10}, {"E", 5}};
#define NFINS (sizeof fins / sizeof fins[0])

static dbfork_worker *self; /* per worker process */

static void record(void *arg) {
  const fin *f = arg;
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO t_fin_order (pid, name) VALUES (%ld, '%s')",
           (long)getpid(), f->name);
  (void)mysql_query(dbfork_worker_mysql(self), sql);
}

static int init_register(dbfork_worker *w, void *arg) {
  (void)arg;
  self = w;
  for (size_t i = 0; i < NFINS; i++) {
    int rc = dbfork_worker_atexit(w, record, (void *)&fins[i], fins[i].priority);
    if (rc != 0) return rc;
  }
  return 0;
}

TEST(finalizer_order) {
  MYSQL *mon = tu_connect();
  tu_exec(mon, "DROP TABLE IF EXISTS t_fin_order");
  tu_exec(mon,
          "CREATE TABLE t_fin_order (id INT AUTO_INCREMENT PRIMARY KEY, "
          "pid BIGINT NOT NULL, name VARCHAR(8) NOT NULL)");
  dbfork_options o;
  it_options(&o, "dbf_fin_order", 2);
  o.init = init_register;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  dbfork_worker_stats ws[2];
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, 2), 2);
  /* No finalizer has run while the workers live. */
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_fin_order"), 0);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);

  for (int i = 0; i < 2; i++) {
    char *order = tu_query_str(mon,
                               "SELECT GROUP_CONCAT(name ORDER BY id SEPARATOR ' ') "
                               "FROM t_fin_order WHERE pid=%ld",
                               ws[i].pid);
    fprintf(stderr, "worker %ld ran: %s\n", ws[i].pid, order ? order : "(nothing)");
    CHECK(order != NULL);
    CHECK_EQ_STR(order, "D B E C A Z");
    free(order);
  }
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_fin_order"), 2 * NFINS);
  mysql_close(mon);
}
