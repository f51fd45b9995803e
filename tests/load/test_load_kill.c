/*
 * test_load_kill.c — `dbfork load` interrupted halfway, then rerun.
 *
 * A load of a big enough file with small chunks is SIGKILLed (or SIGINTed)
 * once some chunks are recorded in dbfork_load_progress. Then:
 *  - no worker process of the dead loader is left, nor any of its sessions;
 *  - the table holds exactly the rows of the recorded chunks;
 *  - the same command rerun says it resumes, exits 0, and the table (without
 *    a primary key, so a duplicate would show) holds every row exactly once.
 * Registered ABORTS_CLIENTS (serial): killed workers abort their sessions.
 */
#include "loadtest.h"

#define NROWS 100000

static void interrupted_then_resumed(const char *method, int sig) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(NROWS, sizeof *rows);
  lt_proc p;
  lt_run r;
  long kids[64];
  int nkids = 0, alive;
  long long t0, recorded = 0;
  lt_sum part;

  lt_setup(&e, "orders", 0); /* no primary key: duplicates would be counted */
  lt_gen(rows, NROWS, 1, 2024, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, NROWS, 1);
  lt_write_file(e.path, f.p, f.len);

  lt_start(&p, &e, e.path, "orders", "--chunk-size=16K", "--method", method, "--workers", "2",
           NULL);
  /* wait until a few chunks are committed */
  t0 = tu_now_ms();
  for (;;) {
    int st;
    if (waitpid(p.pid, &st, WNOHANG) == p.pid)
      FAIL("the load finished (status %d) before it could be interrupted: make the file bigger",
           st);
    recorded = lt_try_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress");
    if (recorded >= 5) break;
    if (tu_now_ms() - t0 > 30000) FAIL("no chunk was recorded within 30 s");
    tu_sleep_ms(2);
  }
  nkids = lt_children(p.pid, kids, 64);
  CHECK(nkids >= 2); /* the two workers */
  CHECK_EQ_INT(kill(p.pid, sig), 0);
  lt_wait(&p, &e, &r, 30000);
  if (sig == SIGKILL) {
    CHECK_EQ_INT(r.rc, 128 + SIGKILL);
  } else {
    CHECK_EXIT(&r, 2); /* interrupted */
    CHECK_CONTAINS(r.err, "rerun");
  }
  lt_run_free(&r);

  /* no worker left behind, no session left open */
  alive = lt_wait_gone(kids, nkids, 10000);
  if (alive) FAIL("%d worker process(es) of the interrupted load are still alive", alive);
  CHECK_EQ_INT(tu_wait_sessions(e.m, "dbfork-load", 0, 10000), 0);

  /* exactly the recorded chunks, and not everything */
  part = lt_server_sum(e.m, "orders");
  CHECK_SUM(part, lt_sum_committed(e.m, &f, rows));
  CHECK(part.count > 0);
  if (part.count >= NROWS) FAIL("the load completed before the signal: make the file bigger");

  /* the same command again: resumes, loads the rest exactly once */
  lt_load(&r, &e, e.path, "orders", "--chunk-size=16K", "--method", method, "--workers", "2", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "resuming");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NROWS));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(DISTINCT id) FROM orders"), NROWS);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), NROWS);
  {
    /* the rerun loaded only what was missing */
    char want[64];
    snprintf(want, sizeof want, "rows loaded    ");
    CHECK_CONTAINS(r.out, want);
    {
      const char *q = strstr(r.out, want) + strlen(want);
      long long loaded = 0;
      for (; *q && *q != '\n'; q++)
        if (*q >= '0' && *q <= '9') loaded = loaded * 10 + (*q - '0');
      CHECK_EQ_INT(loaded, NROWS - part.count);
    }
  }
  lt_run_free(&r);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(sigkill_then_resume_load_data) { interrupted_then_resumed("load-data", SIGKILL); }
TEST(sigkill_then_resume_insert) { interrupted_then_resumed("insert", SIGKILL); }
TEST(sigint_then_resume_load_data) { interrupted_then_resumed("load-data", SIGINT); }
TEST(sigterm_then_resume_insert) { interrupted_then_resumed("insert", SIGTERM); }
TEST(sigkill_then_resume_bulk) { interrupted_then_resumed("bulk", SIGKILL); }

/* A worker's connection is KILLed by an admin halfway: the chunk in flight
 * rolls back and is retried on a new connection (the pool's policy), later
 * chunks keep loading on it, and the table ends exact. */
static void connection_killed_midway(const char *method) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(NROWS, sizeof *rows);
  lt_proc p;
  lt_run r;
  long long t0, recorded = 0, victim = -1;
  lt_setup(&e, "orders", 0);
  lt_gen(rows, NROWS, 1, 777, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, NROWS, 1);
  lt_write_file(e.path, f.p, f.len);

  lt_start(&p, &e, e.path, "orders", "--chunk-size=16K", "--method", method, "--workers", "2",
           "--json", NULL);
  t0 = tu_now_ms();
  while (recorded < 5) {
    int st;
    if (waitpid(p.pid, &st, WNOHANG) == p.pid) FAIL("the load finished before the KILL");
    recorded = lt_try_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress");
    if (tu_now_ms() - t0 > 30000) FAIL("no chunk was recorded within 30 s");
    tu_sleep_ms(2);
  }
  victim = tu_query_ll(e.m,
                       "SELECT MIN(PROCESSLIST_ID) FROM performance_schema.session_connect_attrs "
                       "WHERE ATTR_NAME='program_name' AND ATTR_VALUE='dbfork-load'");
  CHECK(victim > 0);
  tu_exec(e.m, "KILL CONNECTION %lld", victim);
  lt_wait(&p, &e, &r, 60000);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NROWS));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(DISTINCT id) FROM orders"), NROWS);
  lt_run_free(&r);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(connection_killed_midway_load_data) { connection_killed_midway("load-data"); }
TEST(connection_killed_midway_insert) { connection_killed_midway("insert"); }
TEST(connection_killed_midway_bulk) { connection_killed_midway("bulk"); }

/* Bad rows under --max-errors, the load SIGKILLed halfway, rerun: the rows
 * are exact, and the reject file of the finished load still lists every bad
 * row once (those of the chunks committed by the first run too), and the
 * --max-errors budget counts them all. */
TEST(sigkill_then_resume_with_rejects) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(NROWS, sizeof *rows);
  lt_proc p;
  lt_run r;
  long long t0, rej_committed = 0;
  char rpath[256], ropt[300], kopt[32];
  size_t i, nbad = 0;
  char *txt;
  lt_setup(&e, "orders", 0);
  lt_gen(rows, NROWS, 1, 4242, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  for (i = 0; i < NROWS; i++) {
    lt_put_row(&f, &rows[i], 1);
    if (i % 2000 == 1999) {
      lt_puts(&f, "1,2,3\n"); /* too few fields */
      nbad++;
    }
  }
  lt_write_file(e.path, f.p, f.len);
  snprintf(rpath, sizeof rpath, "%s/rejects", e.dir);
  snprintf(ropt, sizeof ropt, "--reject-file=%s", rpath);
  snprintf(kopt, sizeof kopt, "--max-errors=%zu", nbad);

  lt_start(&p, &e, e.path, "orders", "--chunk-size=16K", "--workers", "2", ropt, kopt, NULL);
  t0 = tu_now_ms();
  while (rej_committed < 3) {
    int st;
    if (waitpid(p.pid, &st, WNOHANG) == p.pid) FAIL("the load finished before the kill");
    rej_committed = lt_try_ll(e.m, "SELECT IFNULL(SUM(rejected),0) FROM dbfork_load_progress");
    if (tu_now_ms() - t0 > 30000) FAIL("no rejected row was recorded within 30 s");
    tu_sleep_ms(2);
  }
  kill(p.pid, SIGKILL);
  lt_wait(&p, &e, &r, 30000);
  lt_run_free(&r);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  rej_committed = tu_query_ll(e.m, "SELECT IFNULL(SUM(rejected),0) FROM dbfork_load_progress");
  CHECK(rej_committed > 0 && rej_committed < (long long)nbad);

  lt_load(&r, &e, e.path, "orders", "--chunk-size=16K", "--workers", "2", ropt, kopt, NULL);
  CHECK_EXIT(&r, 1);
  CHECK_CONTAINS(r.err, "resuming");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, NROWS));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rejected) FROM dbfork_load_progress"), nbad);
  /* the reject file: every bad row, once */
  txt = lt_read_file(rpath, NULL);
  CHECK(txt != NULL);
  {
    size_t n = 0;
    const char *q = txt;
    while ((q = strstr(q, "\n1,2,3\n"))) {
      n++;
      q += 6;
    }
    if (n != nbad)
      FAIL(
          "the reject file lists %zu bad rows, the file has %zu (%lld were rejected by the "
          "killed run's committed chunks)",
          n, nbad, rej_committed);
  }
  free(txt);
  lt_run_free(&r);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* For the two tests below: 150 rows, one row with too few fields (its line
 * in *bad_line), 150 more, written to e->path. */
static void write_one_bad_row(lt_env *e, lt_file *f, lt_row *rows, uint64_t *bad_line) {
  lt_gen(rows, 300, 1, 99, 1);
  lt_file_init(f, LT_BACKSLASH, 0);
  lt_put_rows(f, rows, 150, 1);
  *bad_line = lt_line(f);
  lt_puts(f, "1,2,3\n"); /* too few fields */
  lt_put_rows(f, rows + 150, 150, 1);
  lt_write_file(e->path, f->p, f->len);
}

/* Starts the load (one worker) so that its one chunk's COMMIT waits for
 * MariaDB's BACKUP STAGE BLOCK_COMMIT (skips the test where there is none);
 * returns the session holding the backup lock.
 *
 * The loader writes rows of its own before a worker's COMMIT (the job row,
 * the chunk's plan row), and those commits must not be held. So the lock
 * comes once the worker is inside its chunk: session `h` first inserts the
 * id of the file's first row in an open transaction; the worker's LOAD DATA
 * waits for that row lock; then commits are blocked, and h rolls back,
 * which lets the worker go on to its (held) COMMIT. The loader's tables are
 * created first by a load into another table: DDL would wait for the
 * backup lock. */
static MYSQL *start_with_held_commit(lt_env *e, lt_proc *p, const char *extra) {
  char warm[256];
  lt_run r;
  MYSQL *b, *h;
  long long t0;
  snprintf(warm, sizeof warm, "%s/warm.csv", e->dir);
  lt_write_file(warm, "1\n", 2);
  tu_exec(e->m, "CREATE TABLE warm (x INT) ENGINE=InnoDB");
  lt_load(&r, e, warm, "warm", "-q", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  h = tu_connect();
  tu_exec(h, "BEGIN");
  tu_exec(h,
          "INSERT INTO `%s`.orders (id, customer_id, amount, created_at) VALUES (1, 1, 0, NOW())",
          e->db);
  if (extra)
    lt_start(p, e, e->path, "orders", "--workers", "1", "--max-errors=1", extra, NULL);
  else
    lt_start(p, e, e->path, "orders", "--workers", "1", "--max-errors=1", NULL);
  t0 = tu_now_ms();
  /* (information_schema.INNODB_TRX does not list the waiting transaction
   * on MariaDB 10.11 here; the status counter of current row lock waits
   * counts it.) */
  while (lt_try_ll(e->m,
                   "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE "
                   "VARIABLE_NAME = 'INNODB_ROW_LOCK_CURRENT_WAITS'") < 1) {
    if (tu_now_ms() - t0 > 30000) FAIL("the worker's insert did not wait for the row lock");
    tu_sleep_ms(2);
  }
  b = tu_connect();
  if (mysql_query(b, "BACKUP STAGE START") || mysql_query(b, "BACKUP STAGE BLOCK_COMMIT"))
    SKIP("BACKUP STAGE is not available (MariaDB 10.4+ only): %s", mysql_error(b));
  tu_exec(h, "ROLLBACK");
  mysql_close(h);
  return b;
}

/* The connection id of the one session whose COMMIT waits for the backup
 * lock, 0 while there is none (-1 if several). */
static long long held_commit_id(lt_env *e) {
  return lt_try_ll(e->m,
                   "SELECT IF(COUNT(*) = 1, MIN(ID), IF(COUNT(*) = 0, 0, -1)) FROM "
                   "information_schema.PROCESSLIST WHERE INFO = 'COMMIT' AND STATE LIKE "
                   "'%backup lock%'");
}

/* Waits until the load's one worker is in its COMMIT, held by the backup
 * lock; returns that worker's pid and sets *conn to the connection id of the
 * session whose COMMIT waits. */
static pid_t worker_in_held_commit(lt_env *e, const lt_proc *p, long long *conn) {
  long kids[8];
  long long t0 = tu_now_ms();
  while ((*conn = held_commit_id(e)) == 0) {
    if (tu_now_ms() - t0 > 30000) FAIL("the worker's COMMIT did not wait for the backup lock");
    tu_sleep_ms(2);
  }
  if (*conn < 0) FAIL("more than one COMMIT waits for the backup lock; the load has one worker");
  CHECK_EQ_INT(lt_children(p->pid, kids, 8), 1);
  return (pid_t)kids[0];
}

/* Waits until session `conn` is gone from the server. Only that session:
 * the replacement worker's own COMMIT of the retried chunk may already wait
 * for the backup lock by then (it often does within milliseconds), and it
 * rightly keeps waiting until the lock is released. */
static void wait_session_gone(lt_env *e, long long conn, const char *what) {
  char sql[160];
  long long t0 = tu_now_ms();
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lld",
           conn);
  while (lt_try_ll(e->m, sql) != 0) {
    if (tu_now_ms() - t0 > 30000) FAIL("%s (session %lld) is still on the server", what, conn);
    tu_sleep_ms(2);
  }
}

/* A worker dies after its COMMIT went out, and the COMMIT did commit: the
 * parent cannot know from the worker (its reply never came) and finds the
 * chunk in the progress table. The chunk's rejected row must still reach
 * the reject file and the counts (exit 1, "rejected 1"), as if the reply
 * had come. Made deterministic with MariaDB's BACKUP STAGE BLOCK_COMMIT:
 * the worker's COMMIT waits for the backup lock; the worker is stopped
 * (SIGSTOP), the lock released so the COMMIT completes, then the worker is
 * SIGKILLed before it could send its result. */
TEST(commit_outcome_unknown_but_committed_keeps_its_rejects) {
  lt_env e;
  lt_file f;
  lt_row rows[300];
  lt_proc p;
  lt_run r;
  MYSQL *b;
  pid_t worker;
  long long t0, conn;
  uint64_t bad_line;
  char rpath[256], ropt[300], want[300], *txt;
  lt_setup(&e, "orders", 1);
  write_one_bad_row(&e, &f, rows, &bad_line);
  snprintf(rpath, sizeof rpath, "%s/rejects", e.dir);
  snprintf(ropt, sizeof ropt, "--reject-file=%s", rpath);
  b = start_with_held_commit(&e, &p, ropt);
  worker = worker_in_held_commit(&e, &p, &conn);
  CHECK_EQ_INT(kill(worker, SIGSTOP), 0);
  tu_exec(b, "BACKUP STAGE END");
  t0 = tu_now_ms();
  while (lt_try_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress") < 2) {
    if (tu_now_ms() - t0 > 30000) FAIL("the stopped worker's COMMIT did not complete");
    tu_sleep_ms(2);
  }
  CHECK_EQ_INT(kill(worker, SIGKILL), 0);
  lt_wait(&p, &e, &r, 60000);
  CHECK_EXIT(&r, 1);
  CHECK_CONTAINS(r.out, "rejected       1 ");
  CHECK_CONTAINS(r.out, "rows loaded    300\n");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
  txt = lt_read_file(rpath, NULL);
  snprintf(want, sizeof want, "# %s: line %llu, column ", e.path, (unsigned long long)bad_line);
  CHECK_CONTAINS(txt, want);
  CHECK_CONTAINS(txt, "too few fields (3, expected 5)\n1,2,3\n");
  free(txt);
  lt_run_free(&r);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* The other side of it: the COMMIT of a chunk with a rejected row is
 * interrupted (the worker SIGKILLed while the COMMIT waits for the backup
 * lock, the parent KILLs its session), so the outcome is unknown and the
 * chunk turns out not committed. The loader runs it again in a new worker,
 * which reserves the same reject again: the dead attempt's reservation must
 * be taken back first, or --max-errors=1 counts the one bad row twice and
 * fails a load that is within it. */
TEST(commit_outcome_unknown_not_committed_reruns_within_max_errors) {
  lt_env e;
  lt_file f;
  lt_row rows[300];
  lt_proc p;
  lt_run r;
  MYSQL *b;
  long long conn;
  uint64_t bad_line;
  lt_setup(&e, "orders", 1);
  write_one_bad_row(&e, &f, rows, &bad_line);
  b = start_with_held_commit(&e, &p, NULL);
  CHECK_EQ_INT(kill(worker_in_held_commit(&e, &p, &conn), SIGKILL), 0);
  /* The parent KILLs the dead worker's session: its COMMIT never happens. */
  wait_session_gone(&e, conn, "the killed worker's session, its COMMIT waiting");
  tu_exec(b, "BACKUP STAGE END");
  lt_wait(&p, &e, &r, 60000);
  CHECK_EXIT(&r, 1); /* a row was rejected, and the load is complete */
  CHECK_CONTAINS(r.out, "rejected       1 ");
  CHECK_CONTAINS(r.out, "rows loaded    300\n");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
  lt_run_free(&r);
  mysql_close(b);
  tu_wait_sessions(e.m, "dbfork-load", 0, 10000);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* The job's lock is the parent's session's (issue 11, point 3): a parent
 * killed outright (SIGKILL) leaves no lock behind, since its session ends
 * with it, and the rerun loads the rest exactly once. The first run is
 * held by a table lock of the test's until it holds the job's lock. */
TEST(sigkilled_parent_leaves_no_job_lock_and_the_rerun_loads_exactly_once) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(2000, sizeof *rows);
  lt_proc p;
  lt_run r;
  MYSQL *holder;
  long long t0;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 2000, 1, 77, 0, 0);
  holder = lt_holder(&e);
  tu_exec(holder, "LOCK TABLES orders WRITE");
  lt_start(&p, &e, e.path, "orders", "-q", "--chunk-size=8K", NULL);
  lt_wait_for(&e, LT_JOB_LOCKED, 30000, "the load takes the job's lock");
  CHECK_EQ_INT(kill(p.pid, SIGKILL), 0);
  lt_wait(&p, &e, &r, 30000);
  CHECK_EQ_INT(r.rc, 128 + SIGKILL);
  lt_run_free(&r);
  /* the parent's session ends with it: the lock goes, while the table is
   * still locked (its workers, told to stop, wait behind the table lock) */
  t0 = tu_now_ms();
  while (lt_try_ll(e.m,
                   "SELECT IS_USED_LOCK(CONCAT('dbfork_load:', job_key)) IS NULL FROM "
                   "dbfork_load_job") != 1) {
    if (tu_now_ms() - t0 > 30000) FAIL("the killed parent's job lock stayed");
    tu_sleep_ms(10);
  }
  tu_exec(holder, "UNLOCK TABLES");
  mysql_close(holder);
  tu_wait_sessions(e.m, "dbfork-load", 0, 30000);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=8K", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 2000));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), 2000);
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* The summary of a load stopped by SIGINT (issue 11, point 6): its chunk
 * counts add up to the chunks it names, whatever was in flight. The load
 * is held mid-way by a table lock of the test's (taken once some chunks
 * are recorded; chunks in flight finish first, the next ones wait), so
 * that the stop always finds chunks loaded, in flight and not started. */
TEST(sigint_summary_chunk_counts_add_up) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(30000, sizeof *rows);
  lt_proc p;
  lt_run r;
  MYSQL *holder;
  unsigned long long total, now, before, failed, cancelled, given = 0;
  const char *c;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 30000, 1, 78, 1, 0);
  holder = lt_holder(&e);
  lt_start(&p, &e, e.path, "orders", "--chunk-size=4K", "--workers=2", NULL);
  lt_wait_for(&e, "SELECT COUNT(*) >= 3 FROM dbfork_load_progress", 30000, "3 chunks are recorded");
  tu_exec(holder, "LOCK TABLES orders WRITE");
  CHECK_EQ_INT(kill(p.pid, SIGINT), 0);
  tu_exec(holder, "UNLOCK TABLES");
  lt_wait(&p, &e, &r, 60000);
  CHECK_EXIT(&r, 2);
  c = strstr(r.out, "  chunks         ");
  if (!c || sscanf(c,
                   "  chunks         %llu (%llu loaded now, %llu by an earlier run, %llu failed, "
                   "%llu cancelled",
                   &total, &now, &before, &failed, &cancelled) != 5)
    FAIL("no chunk counts in the summary:\n%s", r.out);
  if (strstr(c, " with parts given up")) sscanf(strstr(c, "cancelled, ") + 11, "%llu", &given);
  if (now + before + failed + cancelled + given != total)
    FAIL("the chunk counts do not add up:\n%s", r.out);
  CHECK(cancelled > 0 && now >= 3);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_committed(e.m, &f, rows));
  lt_run_free(&r);
  mysql_close(holder);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}
