/*
 * test_load_demo.c — issue 11, point 7: the demo teaches the right thing.
 *  - the file scripts/demo.sh loads (scripts/demo-data.sh) loads its NULL
 *    notes as NULL with the demo's options, not as text (an older demo
 *    wrote \N, which without an escape character is two characters: the
 *    server held 100,319 of them and the demo's check did not look);
 *  - `dbfork demo --table=T` refuses a table it did not make, instead of
 *    emptying it, and reuses one it made.
 */
#define _GNU_SOURCE
#include "loadtest.h"

/* The source tree, from the harness's tests/server.sh. */
static void source_dir(char *out, size_t len) {
  const char *sh = getenv("DBFORK_TEST_SERVER_SH");
  const char *end = sh ? strstr(sh, "/tests/server.sh") : NULL;
  if (!end) FAIL("DBFORK_TEST_SERVER_SH does not say where the source tree is");
  snprintf(out, len, "%.*s", (int)(end - sh), sh);
}

TEST(demo_data_loads_its_nulls_as_nulls) {
  lt_env e;
  lt_run r;
  char src[512], *txt, *p;
  long long nulls = 0;
  lt_setup(&e, "orders", 1);
  source_dir(src, sizeof src);
  if (lt_sh("bash '%s/scripts/demo-data.sh' 5000 > '%s'", src, e.path)) FAIL("demo-data.sh failed");
  txt = lt_read_file(e.path, NULL);
  for (p = txt; (p = strstr(p, ",NULL\n")) != NULL; p++) nulls++;
  CHECK(nulls > 500);
  free(txt);
  /* scripts/demo.sh's options */
  lt_load(&r, &e, e.path, "orders", "-q", "--skip-lines", "1", "--fields-escaped-by=", "--truncate",
          NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 5000);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE note IS NULL"), nulls);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE note IN ('\\\\N', 'NULL')"), 0);
  CHECK(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE note LIKE '%%\n%%'") > 0);
  lt_run_free(&r);
  lt_teardown(&e);
}

static void demo(lt_env *e, lt_run *r, const char *table) {
  char *argv[16], pw[256], topt[256];
  lt_proc p;
  memset(&p, 0, sizeof p);
  snprintf(pw, sizeof pw, "--password=%s", getenv("DBFORK_TEST_PASSWORD"));
  snprintf(topt, sizeof topt, "--table=%s.%s", e->db, table);
  argv[0] = getenv("DBFORK_CLI");
  argv[1] = (char *)"demo";
  argv[2] = (char *)"--no-defaults";
  argv[3] = (char *)"-S";
  argv[4] = getenv("DBFORK_TEST_SOCKET");
  argv[5] = (char *)"-u";
  argv[6] = getenv("DBFORK_TEST_USER");
  argv[7] = pw;
  argv[8] = topt;
  argv[9] = (char *)"--rows=300";
  argv[10] = NULL;
  p.seq = ++lt__seq;
  p.t0 = tu_now_ms();
  p.pid = lt__spawn(e, p.seq, argv);
  lt_wait(&p, e, r, 60000);
}

TEST(demo_refuses_a_table_it_did_not_make) {
  lt_env e;
  lt_run r;
  int i;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE mine (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB");
  tu_exec(e.m, "INSERT INTO mine VALUES (1, 'keep'), (2, 'me')");
  demo(&e, &r, "mine");
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "exists and was not made by dbfork demo");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM mine"), 2);
  lt_run_free(&r);
  for (i = 0; i < 2; i++) { /* made, then reused */
    demo(&e, &r, "made");
    CHECK_EXIT(&r, 0);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM made"), 300);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}
