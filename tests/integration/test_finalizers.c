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

static char fin_table[96] = "t_fin_order"; /* set before the pool forks */

/* A finalizer gets the worker's handle, like init and task do. */
static int record(dbfork_worker *w, void *arg) {
  const fin *f = arg;
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (pid, slot, name) VALUES (%ld, %d, '%s')", fin_table,
           (long)getpid(), dbfork_worker_slot(w), f->name);
  return mysql_query(dbfork_worker_mysql(w), sql) ? DBFORK_ESQL : 0;
}

static int init_register(dbfork_worker *w, void *arg) {
  (void)arg;
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
          "pid BIGINT NOT NULL, slot INT NOT NULL, name VARCHAR(8) NOT NULL)");
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
    CHECK_EQ_INT(
        tu_query_ll(mon, "SELECT COUNT(DISTINCT slot) FROM t_fin_order WHERE pid=%ld", ws[i].pid),
        1);
    CHECK_EQ_INT(tu_query_ll(mon, "SELECT MIN(slot) FROM t_fin_order WHERE pid=%ld", ws[i].pid),
                 ws[i].slot);
  }
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM t_fin_order"), 2 * NFINS);
  mysql_close(mon);
}

/* A finalizer that fails reports it: the parent logs it (with the worker,
 * the class, the server's error) and counts it, and the finalizers after it
 * still run. */
static int bad_sql(dbfork_worker *w, void *arg) {
  (void)arg;
  return mysql_query(dbfork_worker_mysql(w), "INSERT INTO t_fin_no_such_table VALUES (1)")
             ? DBFORK_ESQL
             : 0;
}

static int says_why(dbfork_worker *w, void *arg) {
  (void)arg;
  (void)dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "flush of %d rows failed", 3);
  return 0; /* failed all the same: dbfork_worker_fail was called */
}

static const fin last = {"L", -5};

static int init_failing(dbfork_worker *w, void *arg) {
  int rc;
  (void)arg;
  if ((rc = dbfork_worker_atexit(w, bad_sql, NULL, 10)) != 0) return rc;
  if ((rc = dbfork_worker_atexit(w, says_why, NULL, 5)) != 0) return rc;
  return dbfork_worker_atexit(w, record, (void *)&last, last.priority);
}

static char logged[8192];
static void collect(int level, const char *msg, void *arg) {
  (void)arg;
  if (level != DBFORK_LOG_ERROR) return;
  strncat(logged, msg, sizeof logged - strlen(logged) - 2);
  strcat(logged, "\n");
}

TEST(failing_finalizer_reaches_the_parents_log) {
  TU_NEEDS_PARENT_MEMORY("the finalizer's table name is written at run time");
  MYSQL *mon = tu_connect();
  dbfork_options o;
  dbfork_pool *pool = NULL;
  dbfork_pool_stats ps;
  snprintf(fin_table, sizeof fin_table, "t_%s", tu_unique_name());
  tu_exec(mon, "DROP TABLE IF EXISTS `%s`", fin_table);
  tu_exec(mon, "DROP TABLE IF EXISTS t_fin_no_such_table");
  tu_exec(mon,
          "CREATE TABLE `%s` (id INT AUTO_INCREMENT PRIMARY KEY, "
          "pid BIGINT NOT NULL, slot INT NOT NULL, name VARCHAR(8) NOT NULL)",
          fin_table);
  it_options(&o, tu_unique_name(), 2);
  o.init = init_failing;
  o.log = collect;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  CHECK_OK(dbfork_pool_join(pool));
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, &ps, NULL, 0), 2);
  dbfork_pool_free(pool);
  fprintf(stderr, "%s", logged);
  CHECK_EQ_INT(ps.finalizers_failed, 4);
  CHECK_CONTAINS(logged, "worker 0 (pid ");
  CHECK_CONTAINS(logged, "worker 1 (pid ");
  CHECK_CONTAINS(logged, "finalizer 1 failed: Table '");
  CHECK_CONTAINS(logged, "t_fin_no_such_table' doesn't exist (MySQL error 1146, SQLSTATE 42S02)");
  CHECK_CONTAINS(logged, "finalizer 2 failed: flush of 3 rows failed (DBFORK_ETASK)");
  /* The finalizer after the failing ones ran, on each worker. */
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM `%s` WHERE name='L'", fin_table), 2);
  CHECK_EQ_INT(tu_wait_sessions(mon, o.program_name, 0, 5000), 0);
  tu_exec(mon, "DROP TABLE `%s`", fin_table);
  mysql_close(mon);
}
