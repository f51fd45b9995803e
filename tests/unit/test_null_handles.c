/*
 * Every public function given a NULL handle fails the same way instead of
 * crashing: int-returning ones return DBFORK_EINVAL, dbfork_worker_mysql()
 * and dbfork_pool_loop() return NULL, dbfork_worker_connection_id() returns
 * 0, dbfork_pool_last_error() "", and the free/close/abandon functions do
 * nothing. No server, no pool.
 */
#include "testutil.h"

static int fin(dbfork_worker *w, void *arg) { return 0; }
static void done(const dbfork_result *r, void *ud) {}

TEST(worker_side_functions_refuse_a_null_worker) {
  CHECK(dbfork_worker_mysql(NULL) == NULL);
  CHECK_ERR(dbfork_worker_slot(NULL), DBFORK_EINVAL);
  CHECK_EQ_INT(dbfork_worker_connection_id(NULL), 0);
  CHECK_ERR(dbfork_worker_atexit(NULL, fin, NULL, 0), DBFORK_EINVAL);
  CHECK_ERR(dbfork_worker_reply(NULL, "x", 1), DBFORK_EINVAL);
  CHECK_ERR(dbfork_worker_fail(NULL, DBFORK_ETASK, 0, NULL, "%s", "x"), DBFORK_EINVAL);
  CHECK_ERR(dbfork_worker_stopping(NULL), DBFORK_EINVAL);
}

TEST(pool_side_functions_refuse_a_null_pool) {
  dbfork_pool *p = (dbfork_pool *)1; /* must be overwritten */
  dbfork_pool_stats ps;
  CHECK_ERR(dbfork_pool_new(&p, NULL), DBFORK_EINVAL);
  CHECK(p == NULL);
  CHECK_ERR(dbfork_pool_new(NULL, NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_start(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_submit(NULL, "x", 1, done, NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_run(NULL, 0), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_wait_idle(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_close(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_join(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_stop(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_terminate(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_pool_stats_get(NULL, &ps, NULL, 0), DBFORK_EINVAL);
  CHECK(dbfork_pool_loop(NULL) == NULL);
  CHECK_EQ_STR(dbfork_pool_last_error(NULL), "");
  dbfork_pool_free(NULL);
}

TEST(mysql_helpers_accept_or_refuse_null) {
  CHECK_OK(dbfork_mysql_abandon(NULL));
  dbfork_mysql_close(NULL);
  CHECK_ERR(dbfork_mysql_check_owner(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_connect(NULL, NULL, NULL, 0), DBFORK_EINVAL);
}
