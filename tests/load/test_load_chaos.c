/*
 * test_load_chaos.c — `dbfork load` keeps going when chunks keep losing
 * their worker.
 *
 *  - workers SIGKILLed at random every 250 ms during a 1M-row load: the load
 *    still ends 0 with an exact table;
 *  - every 100 ms: it may end 2, but the table is never wrong (exactly the
 *    committed parts), and a rerun without kills completes it exactly;
 *  - one record that kills whatever worker loads it (a trigger sleeps on it,
 *    and the test kills the worker whose session sleeps): its chunk is split
 *    down to that record, which is given up and named by its line; every
 *    other row loads; the rerun loads it once the cause is gone.
 *
 * Registered ABORTS_CLIENTS (serial): killed workers abort their sessions.
 */
#include "loadtest.h"

/* 1 while the started CLI has not exited (it is not reaped, so lt_wait
 * collects it afterwards). */
static int still_running(const lt_proc *p) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return 0;
  return si.si_pid == 0;
}

/* Runs the started load to its end, SIGKILLing one of its workers (chosen
 * at random) every interval_ms. Returns the number of kills. */
static int kill_workers_until_done(const lt_proc *p, int interval_ms, int timeout_ms,
                                   uint64_t seed) {
  long long t0 = tu_now_ms(), next = t0 + interval_ms;
  int kills = 0;
  while (still_running(p)) {
    long long now = tu_now_ms();
    if (now - t0 > timeout_ms) FAIL("the load did not end within %d ms under kills", timeout_ms);
    if (now >= next) {
      long kids[64];
      int n = lt_children(p->pid, kids, 64);
      if (n > 0 && kill((pid_t)kids[lt_rand(&seed) % (uint64_t)n], SIGKILL) == 0) kills++;
      next += interval_ms;
    }
    tu_sleep_ms(2);
  }
  return kills;
}

#define NBIG 1000000

/* A 1M-row file, loaded with 2 workers while one of them is SIGKILLed every
 * interval_ms: *r is the CLI's result, *f and *rows what was written. */
static void load_under_kills(lt_env *e, lt_file *f, lt_row **rows, lt_run *r, int interval_ms) {
  lt_proc p;
  int kills;
  *rows = calloc(NBIG, sizeof **rows);
  CHECK(*rows != NULL);
  lt_gen(*rows, NBIG, 1, 31337, 1);
  lt_file_init(f, LT_BACKSLASH, 0);
  lt_put_rows(f, *rows, NBIG, 1);
  lt_write_file(e->path, f->p, f->len);
  lt_start(&p, e, e->path, "orders", "--workers", "2", NULL);
  kills = kill_workers_until_done(&p, interval_ms, 110000, (uint64_t)interval_ms);
  lt_wait(&p, e, r, 10000);
  fprintf(stderr, "%d workers killed, one every %d ms; exit %d (%.1f s)\n", kills, interval_ms,
          r->rc, r->secs);
  if (kills < 4) FAIL("only %d kills: the load was too quick to test anything", kills);
  CHECK_EQ_INT(tu_wait_sessions(e->m, "dbfork-load", 0, 10000), 0);
}

TEST(workers_killed_every_250ms_load_ends_0_and_exact) {
  lt_env e;
  lt_file f;
  lt_row *rows;
  lt_run r;
  lt_setup(&e, "orders", 1);
  load_under_kills(&e, &f, &rows, &r, 250);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NBIG));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), NBIG);
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(workers_killed_every_100ms_table_never_wrong_and_rerun_completes) {
  lt_env e;
  lt_file f;
  lt_row *rows;
  lt_run r;
  lt_setup(&e, "orders", 1);
  load_under_kills(&e, &f, &rows, &r, 100);
  if (r.rc != 0 && r.rc != 2) CHECK_EXIT(&r, 2);
  /* whatever it ended with: exactly the committed parts */
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_committed(e.m, &f, rows));
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "--workers", "2", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NBIG));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), NBIG);
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

#define NPOISON 20000
#define POISON_ID 12345

/* Kills the worker whose session sleeps in the poison trigger, until the
 * load ends. Returns the kills. */
static int kill_poisoned_until_done(lt_env *e, const lt_proc *p, int timeout_ms) {
  long long t0 = tu_now_ms();
  int kills = 0;
  while (still_running(p)) {
    long long pid;
    if (tu_now_ms() - t0 > timeout_ms) FAIL("the load did not end within %d ms", timeout_ms);
    pid = lt_try_ll(e->m,
                    "SELECT IFNULL(MIN(a.ATTR_VALUE), 0) FROM "
                    "performance_schema.session_connect_attrs a JOIN "
                    "information_schema.PROCESSLIST s ON s.ID = a.PROCESSLIST_ID WHERE "
                    "a.ATTR_NAME = 'dbfork_pid' AND s.STATE = 'User sleep'");
    if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0) kills++;
    tu_sleep_ms(2);
  }
  return kills;
}

TEST(a_record_that_kills_its_worker_is_cornered_and_the_rest_loads) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(NPOISON, sizeof *rows);
  lt_proc p;
  lt_run r;
  lt_sum want, one;
  char msg[128];
  int kills;
  lt_setup(&e, "orders", 1);
  lt_gen(rows, NPOISON, 1, 4711, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, NPOISON, 1);
  lt_write_file(e.path, f.p, f.len);
  tu_exec(e.m,
          "CREATE TRIGGER poison BEFORE INSERT ON orders FOR EACH ROW BEGIN IF NEW.id = %d THEN "
          "DO SLEEP(30); END IF; END",
          POISON_ID);
  lt_start(&p, &e, e.path, "orders", "--workers", "2", NULL);
  kills = kill_poisoned_until_done(&e, &p, 110000);
  lt_wait(&p, &e, &r, 10000);
  fprintf(stderr, "%d workers killed on the poisoned record (%.1f s)\n", kills, r.secs);
  CHECK_EXIT(&r, 2);
  /* the lines given up: exactly the poisoned record's */
  snprintf(msg, sizeof msg, "gave up on lines from %llu (1 record,",
           (unsigned long long)f.row_line[POISON_ID - 1]);
  CHECK_CONTAINS(r.err, msg);
  CHECK_CONTAINS(r.out, "1 parts given up");
  /* every other row is there, once */
  want = lt_sum_rows(rows, NPOISON);
  one = lt_sum_rows(rows + POISON_ID - 1, 1);
  want.count -= one.count;
  want.sum_id -= one.sum_id;
  want.sum_crc -= one.sum_crc;
  CHECK_SUM(lt_server_sum(e.m, "orders"), want);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE id = %d", POISON_ID), 0);
  lt_run_free(&r);
  CHECK_EQ_INT(tu_wait_sessions(e.m, "dbfork-load", 0, 10000), 0);

  /* the cause gone, the same command loads the one record left */
  tu_exec(e.m, "DROP TRIGGER poison");
  lt_load(&r, &e, e.path, "orders", "--workers", "2", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "resuming");
  CHECK_CONTAINS(r.out, "rows loaded    1\n");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NPOISON));
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}
