/*
 * test_exec_kill.c — exactly once under kills, with a non-idempotent
 * UPDATE (SET n = n + 1): the parent SIGKILLed mid-run, then the same
 * command rerun; workers SIGKILLed every 250 ms while it runs; an archive
 * job (INSERT ... SELECT, then DELETE) killed both ways, whose source and
 * archive counts must add up exactly. Every check is on the server's rows.
 */
#include "exectest.h"

#define ROWS 200000

static void check_once(et_env *e, long rows) {
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM t"), rows);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), rows);
}

/* Kills one of the command's workers at random every `ms` until it exits;
 * returns how many were killed. */
static int kill_workers(et_proc *p, int ms, int max_kills) {
  int kills = 0, st;
  unsigned seed = 12345;
  for (;;) {
    long pids[64];
    int n;
    tu_sleep_ms(ms);
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
      /* put it back for et_wait: it reaps nothing then, so rerun the check */
      p->pid = -st - 1;
      return kills;
    }
    n = et_children(p->pid, pids, 64);
    if (n > 0 && kills < max_kills) {
      seed = seed * 1103515245u + 12345u;
      if (kill((pid_t)pids[(seed >> 8) % (unsigned)n], SIGKILL) == 0) kills++;
    }
  }
}

static void wait_killed(et_proc *p, const et_env *e, et_run *r) {
  char path[128];
  int st;
  if (p->pid >= 0) {
    et_wait(p, e, r, 180000);
    return;
  }
  st = -(p->pid + 1);
  memset(r, 0, sizeof *r);
  r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  snprintf(path, sizeof path, "%s/out.%d", e->dir, p->seq);
  r->out = et__read(path);
  snprintf(path, sizeof path, "%s/err.%d", e->dir, p->seq);
  r->err = et__read(path);
}

/* Wait for the workers of a killed parent to leave (they see it gone). */
static void wait_orphans_gone(pid_t parent_was, const long *pids, int n) {
  long long t0 = tu_now_ms();
  (void)parent_was;
  while (tu_pids_alive(pids, n) > 0) {
    if (tu_now_ms() - t0 > 20000) FAIL("the killed parent's workers did not leave");
    tu_sleep_ms(20);
  }
}

TEST(test_exec_parent_sigkilled_then_rerun_changes_each_row_once) {
  et_env e;
  et_proc p;
  et_run r;
  long pids[64];
  int n, st;
  long long before;
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  et_start(&p, &e, "-w2", "--table", "t", "--chunk-rows", "1000",
           "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 40, 60000, "40 chunks committed");
  n = et_children(p.pid, pids, 64);
  kill(p.pid, SIGKILL);
  waitpid(p.pid, &st, 0);
  wait_orphans_gone(p.pid, pids, n);
  before = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress");
  CHECK(before >= 40 && before < ROWS / 1000);
  /* what is committed is exactly what is recorded */
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n = 1"),
               tu_query_ll(e.m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n > 1"), 0);
  et_exec(&r, &e, "-w2", "--table", "t", "--chunk-rows", "1000", "--json",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "\"resumed\":true");
  CHECK_EQ_INT(et_json_num(r.out, "chunks_before"), before);
  check_once(&e, ROWS);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_workers_sigkilled_every_250ms_change_each_row_once) {
  et_env e;
  et_proc p;
  et_run r;
  int kills;
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  /* a few seconds of work (a short sleep per row), so that many kills land */
  et_start(&p, &e, "-w4", "--table", "t", "--chunk-rows", "2000", "--json",
           "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.00001) = 0", NULL);
  kills = kill_workers(&p, 250, 1000);
  wait_killed(&p, &e, &r);
  CHECK_EXIT(&r, 0);
  CHECK(kills >= 5);
  check_once(&e, ROWS);
  CHECK(et_json_num(r.out, "retries") >= 1);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_archive_job_adds_up_after_kills) {
  et_env e;
  et_proc p;
  et_run r;
  long pids[64];
  int n, st, round;
  const char *sql =
      "INSERT INTO arch SELECT * FROM src WHERE {chunk} AND ts < '2025-01-01'; "
      "DELETE FROM src WHERE {chunk} AND ts < '2025-01-01'";
  long long old, total;
  et_setup(&e);
  tu_exec(e.m,
          "CREATE TABLE src (id BIGINT NOT NULL PRIMARY KEY, ts DATETIME NOT NULL, v INT "
          "NOT NULL) ENGINE=InnoDB");
  tu_exec(e.m, "CREATE TABLE arch LIKE src");
  tu_exec(e.m,
          "INSERT INTO src SELECT seq, '2024-06-01' + INTERVAL (seq * 7919 %% 400) DAY, seq "
          "FROM seq_1_to_%d",
          ROWS);
  old = tu_query_ll(e.m, "SELECT COUNT(*) FROM src WHERE ts < '2025-01-01'");
  total = tu_query_ll(e.m, "SELECT SUM(v) FROM src");
  CHECK(old > 1000 && old < ROWS);
  /* round 0: workers killed every 250 ms and the parent after a while;
   * round 1: the rerun, workers killed again; round 2 (if needed) finishes */
  for (round = 0; round < 3; round++) {
    et_start(&p, &e, "-w3", "--table", "src", "--chunk-rows", "1500", sql, NULL);
    if (round == 0) {
      int k;
      for (k = 0; k < 8; k++) {
        tu_sleep_ms(250);
        n = et_children(p.pid, pids, 64);
        if (n > 0) kill((pid_t)pids[k % n], SIGKILL);
      }
      n = et_children(p.pid, pids, 64);
      kill(p.pid, SIGKILL);
      waitpid(p.pid, &st, 0);
      wait_orphans_gone(p.pid, pids, n);
    } else {
      kill_workers(&p, 250, round == 1 ? 6 : 0);
      wait_killed(&p, &e, &r);
      if (r.rc == 0) {
        et_run_free(&r);
        break;
      }
      et_run_free(&r);
    }
    /* at every point: nothing lost, nothing twice */
    CHECK_EQ_INT(tu_query_ll(e.m,
                             "SELECT (SELECT COUNT(*) FROM src) + (SELECT COUNT(*) FROM "
                             "arch)"),
                 ROWS);
    CHECK_EQ_INT(tu_query_ll(e.m,
                             "SELECT (SELECT SUM(v) FROM src) + (SELECT IFNULL(SUM(v), 0) "
                             "FROM arch)"),
                 total);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM arch a JOIN src s ON s.id = a.id"), 0);
  }
  CHECK(round < 3);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM arch"), old);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM src WHERE ts < '2025-01-01'"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM arch WHERE ts >= '2025-01-01'"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rows_matched) FROM dbfork_exec_progress"), 2 * old);
  et_teardown(&e);
}
