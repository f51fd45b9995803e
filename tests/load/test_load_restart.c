/*
 * test_load_restart.c — the server stops and starts again in the middle of a
 * load. The workers' chunks in flight roll back (or their COMMIT outcome is
 * unknown: the claim finds out), the workers reconnect, the parent's own
 * session reconnects for the plan rows it still has to write, and the load
 * ends 0 with every row exactly once.
 * Registered RESTARTS_SERVER (serial, with the server lock).
 */
#include "loadtest.h"

#define NROWS 600000

TEST(server_restart_mid_load_ends_0_and_exact) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(NROWS, sizeof *rows);
  lt_proc p;
  lt_run r;
  long long t0, recorded = 0;
  int st;
  CHECK(rows != NULL);
  lt_setup(&e, "orders", 0); /* no primary key: a duplicate would be counted */
  lt_gen(rows, NROWS, 1, 606, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, NROWS, 1);
  lt_write_file(e.path, f.p, f.len);
  lt_start(&p, &e, e.path, "orders", "--chunk-size=256K", "--workers", "2", NULL);
  t0 = tu_now_ms();
  while (recorded < 10) {
    if (waitpid(p.pid, &st, WNOHANG) == p.pid) FAIL("the load ended before the restart");
    recorded = lt_try_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress");
    if (tu_now_ms() - t0 > 60000) FAIL("no chunk was recorded within 60 s");
    tu_sleep_ms(2);
  }
  mysql_close(e.m);
  tu_server("restart");
  e.m = tu_connect();
  if (mysql_select_db(e.m, e.db)) FAIL("USE %s: %s", e.db, mysql_error(e.m));
  lt_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NROWS));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), NROWS);
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}
