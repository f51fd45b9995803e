/*
 * test_exec_throttle.c — throttling and the worker count: --max-load
 * pauses while sessions are held running (SELECT SLEEP: the fake load),
 * --critical-load stops the job (resumable), and SIGUSR1 / SIGUSR2 or the
 * control file change how many chunks run at once, seen in the progress
 * rows' times and the server's processlist.
 */
#include "exectest.h"

#define ROWS 20000

/* The most chunks whose [start, commit] overlap, among those committed
 * after (after = 1) or before the server time `at` (microseconds). */
static int max_overlap(et_env *e, long long at, int after) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  long long s[4096], t[4096];
  int n = 0, best = 0, i, j;
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT UNIX_TIMESTAMP(committed_at) * 1000000 - duration_ms * 1000, "
           "UNIX_TIMESTAMP(committed_at) * 1000000 FROM dbfork_exec_progress WHERE "
           "UNIX_TIMESTAMP(committed_at) * 1000000 - duration_ms * 1000 %s %lld",
           after ? ">=" : "<", at);
  if (mysql_query(e->m, sql) || !(res = mysql_store_result(e->m)))
    FAIL("%s: %s", sql, mysql_error(e->m));
  while ((row = mysql_fetch_row(res)) && n < 4096) {
    s[n] = atoll(row[0]);
    t[n] = atoll(row[1]);
    n++;
  }
  mysql_free_result(res);
  for (i = 0; i < n; i++) {
    int c = 0;
    /* at chunk i's midpoint, how many run */
    long long mid = (s[i] + t[i]) / 2;
    for (j = 0; j < n; j++) c += s[j] <= mid && mid <= t[j];
    if (c > best) best = c;
  }
  return best;
}

TEST(test_exec_worker_count_changes_with_sigusr1_sigusr2) {
  et_env e;
  et_proc p;
  et_run r;
  long long at_up, at_down;
  int before, during, after;
  et_setup(&e);
  et_counter_table(&e, "t", 3000);
  /* 20 rows a chunk, 5 ms a row: 100 ms a chunk */
  et_start(&p, &e, "-w1", "--max-workers", "3", "--table", "t", "--chunk-rows", "20", "--json",
           "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.005) = 0", NULL);
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 6, 30000, "6 chunks");
  at_up = tu_query_ll(e.m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000000");
  kill(p.pid, SIGUSR1);
  tu_sleep_ms(200); /* two signals at once may arrive as one */
  kill(p.pid, SIGUSR1);
  tu_sleep_ms(2500);
  at_down = tu_query_ll(e.m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000000");
  kill(p.pid, SIGUSR2);
  tu_sleep_ms(200);
  kill(p.pid, SIGUSR2);
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  before = max_overlap(&e, at_up, 0);
  CHECK_EQ_INT(before, 1);
  {
    /* between the two signals (a chunk started after the first and ended
     * before the second) */
    MYSQL_RES *res;
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM dbfork_exec_progress WHERE UNIX_TIMESTAMP(committed_at) * 1000000 > "
             "%lld",
             at_down);
    tu_exec(e.m, "%s", sql);
    (void)res;
  }
  during = max_overlap(&e, at_up + 500000, 1);
  CHECK_EQ_INT(during, 3);
  after = 0;
  (void)after;
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_max_load_pauses_while_the_server_is_busy) {
  et_env e;
  et_run r;
  pid_t sl[4];
  long long t0, first;
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  et_sleepers(sl, 4, 2.5);
  et_wait_for(e.m,
              "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT "
              "SLEEP%%'",
              4, 10000, "the fake load");
  t0 = tu_query_ll(e.m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000");
  et_exec(&r, &e, "--table", "t", "--chunk-rows", "1000", "--max-load", "3", "--json",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  et_reap(sl, 4);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  CHECK(et_json_num(r.out, "pauses") >= 1);
  CHECK(et_json_num(r.out, "paused_seconds") >= 1.0);
  /* no chunk committed while the load was on (2.5 s from t0, less what
   * passed before the job started) */
  first = tu_query_ll(e.m,
                      "SELECT MIN(UNIX_TIMESTAMP(committed_at)) * 1000 FROM "
                      "dbfork_exec_progress");
  CHECK(first - t0 >= 1500);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_critical_load_stops_and_a_rerun_resumes) {
  et_env e;
  et_run r;
  pid_t sl[4];
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  et_sleepers(sl, 4, 3);
  et_wait_for(e.m,
              "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT "
              "SLEEP%%'",
              4, 10000, "the fake load");
  et_exec(&r, &e, "--table", "t", "--chunk-rows", "1000", "--critical-load", "3",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "above --critical-load=3");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  et_run_free(&r);
  et_reap(sl, 4);
  et_exec(&r, &e, "--table", "t", "--chunk-rows", "1000", "--critical-load", "3",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  et_run_free(&r);
  et_teardown(&e);
}

/* The most UPDATEs of t running at once in the server's processlist,
 * sampled every 10 ms for ms milliseconds. */
static int max_running(et_env *e, int ms) {
  long long t0 = tu_now_ms();
  int best = 0, c;
  char sql[300];
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '%s' AND INFO LIKE "
           "'UPDATE t SET n = n + 1%%'",
           e->db);
  while (tu_now_ms() - t0 < ms) {
    c = (int)tu_query_ll(e->m, "%s", sql);
    if (c > best) best = c;
    tu_sleep_ms(10);
  }
  return best;
}

static void write_file(const char *path, const char *text) {
  char tmp[200];
  FILE *f;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (!(f = fopen(tmp, "w"))) FAIL("%s: %s", tmp, strerror(errno));
  fputs(text, f);
  fclose(f);
  if (rename(tmp, path)) FAIL("rename %s: %s", path, strerror(errno));
}

TEST(test_exec_control_file_sets_workers_pauses_and_resumes) {
  et_env e;
  et_proc p;
  et_run r;
  char ctl[128], sql[400];
  long long at_up, at_down, n_paused, conns;
  int before, during, after, paused_running;
  et_setup(&e);
  et_counter_table(&e, "t", 3000);
  snprintf(ctl, sizeof ctl, "%s/control", e.dir);
  write_file(ctl, "# dbfork exec control file\nworkers=1\n");
  /* 20 rows a chunk, 5 ms a row: 100 ms a chunk, 150 chunks */
  et_start(&p, &e, "-w2", "--max-workers", "3", "--table", "t", "--chunk-rows", "20",
           "--control-file", ctl, "--json",
           "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.005) = 0", NULL);
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 4, 30000, "4 chunks");
  before = max_running(&e, 800); /* the file said 1, over -w2 */
  at_up = tu_query_ll(e.m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000000");
  write_file(ctl, "workers=3\nbogus line\n");
  tu_sleep_ms(1300); /* read about once a second */
  during = max_running(&e, 1500);
  at_down = tu_query_ll(e.m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000000");
  write_file(ctl, "workers=1\nbogus line\npause\n");
  tu_sleep_ms(1600); /* read, and the chunks running end */
  paused_running = max_running(&e, 300);
  n_paused = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress");
  tu_sleep_ms(1500);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress"), n_paused);
  write_file(ctl, "workers=1\nresume\n");
  tu_sleep_ms(1300);
  after = max_running(&e, 1000);
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  CHECK_EQ_INT(before, 1);
  CHECK_EQ_INT(during, 3);
  CHECK_EQ_INT(paused_running, 0);
  CHECK_EQ_INT(after, 1);
  /* the progress rows agree: 3 sessions ran chunks between the two changes */
  snprintf(sql, sizeof sql,
           "SELECT COUNT(DISTINCT connection_id) FROM dbfork_exec_progress WHERE "
           "UNIX_TIMESTAMP(committed_at) * 1000000 - duration_ms * 1000 BETWEEN %lld AND %lld",
           at_up + 1200000, at_down);
  conns = tu_query_ll(e.m, "%s", sql);
  CHECK_EQ_INT(conns, 3);
  CHECK(et_json_num(r.out, "pauses") >= 1);
  /* the bad line: logged with file and line, once per change of the file */
  {
    char want[200];
    const char *s = r.err;
    int seen = 0;
    snprintf(want, sizeof want, "%s:2: 'bogus line' is not workers=N, pause or resume", ctl);
    while ((s = strstr(s, want)) != NULL) seen++, s++;
    CHECK_EQ_INT(seen, 2);
  }
  CHECK_CONTAINS(r.err, "3 chunks at once now (was 1)");
  et_run_free(&r);
  et_teardown(&e);
}
